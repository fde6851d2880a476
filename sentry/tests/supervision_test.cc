// Syscall supervision: the sandbox's profile sends chosen system calls to its sentry, which
// answers them by rule and records them; snapshots of a supervised sandbox restore with the
// rules still applied.
#include <thread>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<json> audit(service::SandboxEngine& e, const std::string& id) {
  std::vector<json> out;
  std::string text = e.audit_log(id);
  size_t start = 0, end;
  while ((end = text.find('\n', start)) != std::string::npos) {
    out.push_back(json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

size_t count(const std::vector<json>& events, const std::string& syscall, const std::string& action) {
  size_t n = 0;
  for (auto& e : events)
    if (e.value("syscall", "") == syscall && e.value("action", "") == action) ++n;
  return n;
}

service::SandboxSpec supervised() {
  service::SandboxSpec spec;
  // mkdir (either system call the C library may use) denied with EACCES; chdir logged.
  spec.supervise = {{"mkdir", "deny", 13}, {"mkdirat", "deny", 13}, {"chdir", "log", 1}};
  return spec;
}

class SupervisionTest : public EngineTest {};

TEST_F(SupervisionTest, DeniesLogsAndRecords) {
  std::string id = create(supervised());
  auto denied = run(id, "mkdir /tmp/forbidden");
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.stderr_data.find("Permission denied"), std::string::npos) << denied.stderr_data;
  EXPECT_EQ(run(id, "test -e /tmp/forbidden").exit_code, 1);
  // A logged call runs.
  auto moved = run(id, "cd /tmp && pwd");
  EXPECT_EQ(moved.exit_code, 0) << moved.stderr_data;
  EXPECT_EQ(moved.stdout_data, "/tmp\n");
  // Calls nobody supervises run untouched and are not recorded.
  EXPECT_EQ(run(id, "touch /tmp/f && rm /tmp/f && echo ok").stdout_data, "ok\n");

  auto events = audit(*engine_, id);
  EXPECT_GE(count(events, "mkdir", "deny") + count(events, "mkdirat", "deny"), 1u);
  EXPECT_GE(count(events, "chdir", "log"), 1u);
  for (auto& e : events) {
    EXPECT_TRUE(e.contains("time") && e.contains("pid") && e.contains("args")) << e.dump();
    EXPECT_NE(e.value("syscall", ""), "unlink") << e.dump();
    if (e.value("action", "") == "deny") EXPECT_EQ(e.value("errno", 0), 13) << e.dump();
  }
}

TEST_F(SupervisionTest, RulesAreCheckedBeforeAnythingStarts) {
  service::SandboxSpec spec;
  spec.supervise = {{"no_such_call", "deny", 1}};
  EXPECT_THROW(create(spec), service::BadRequest);
  spec.supervise = {{"mount", "log", 1}};  // already refused by the sandbox's profile
  EXPECT_THROW(create(spec), service::BadRequest);
  spec.supervise = {{"sendmsg", "log", 1}};  // carries the listener itself
  EXPECT_THROW(create(spec), service::BadRequest);
}

// A snapshot cannot carry the listeners over (CRIU): processes restored from it apply the rules
// without the sentry (a denial stays a denial, not ENOSYS), and new commands in the clone are
// supervised and recorded by the clone's own sentry.
TEST_F(SupervisionTest, SnapshotsOfASupervisedSandboxRestoreWithTheRules) {
  std::string id = create(supervised());
  // Started before the snapshot; tries mkdir only once it has been restored (the flag file).
  ASSERT_EQ(run(id, "setsid sh -c 'while [ ! -e /tmp/go ]; do sleep 0.05; done; "
                    "mkdir /tmp/late 2>/tmp/late.err; echo $? > /tmp/late.rc' </dev/null >/dev/null 2>&1 &")
                .exit_code,
            0);
  std::string snap = state_ + "/snapshots/snap-sup";
  make_dirs(snap, 0700);
  engine_->snapshot(id, snap);

  service::SandboxSpec from_snap;
  from_snap.snapshot_dir = snap;
  std::string clone = create(from_snap);
  ASSERT_EQ(run(clone, "touch /tmp/go").exit_code, 0);
  std::string rc;
  for (int i = 0; i < 100 && rc.empty(); ++i) {
    std::this_thread::sleep_for(50ms);
    rc = run(clone, "cat /tmp/late.rc 2>/dev/null").stdout_data;
  }
  EXPECT_EQ(rc, "1\n") << "the restored process's mkdir was not refused";
  EXPECT_NE(run(clone, "cat /tmp/late.err").stdout_data.find("Permission denied"), std::string::npos)
      << "a restored filter without its listener fails calls with ENOSYS";

  auto denied = run(clone, "mkdir /tmp/new-in-clone");
  EXPECT_NE(denied.exit_code, 0);
  auto events = audit(*engine_, clone);
  EXPECT_GE(count(events, "mkdir", "deny") + count(events, "mkdirat", "deny"), 1u) << "the clone's sentry saw nothing";
  engine_->kill(clone);
  engine_->kill(id);
}

}  // namespace
}  // namespace cryo::sentry_test
