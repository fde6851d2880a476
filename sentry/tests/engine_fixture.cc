#include "sentry/tests/engine_fixture.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/file.h"
#include "service/sentry_engine.h"

namespace cryo::sentry_test {

void EngineTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (real containers)";
  char tmpl[] = "/tmp/cryo-sentry-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  state_ = tmpl;
  engine_ = make_engine();
}

void EngineTest::TearDown() {
  if (state_.empty()) return;
  if (!engine_) engine_ = make_engine();
  for (auto& id : engine_->running()) {
    try {
      engine_->kill(id);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "kill " << id << ": " << e.what();
    }
  }
  engine_.reset();
  remove_tree(state_);
}

std::unique_ptr<service::SandboxEngine> EngineTest::make_engine() {
  return service::make_sentry_engine(state_, {SENTRY_BIN, SANDBOX_INIT_BIN});
}

std::string EngineTest::create(service::SandboxSpec spec) {
  std::string id = "t-" + std::to_string(::getpid()) + "-" + std::to_string(next_id_++);
  engine_->create(id, spec);
  return id;
}

service::CommandResult EngineTest::run(const std::string& id, const std::string& shell, service::CommandSpec cmd) {
  cmd.argv = {"/bin/sh", "-c", shell};
  return engine_->run(id, cmd, {});
}

static pid_t read_pid(const std::string& path) {
  auto text = read_file_if_exists(path);
  return text ? std::stoi(*text) : 0;
}

pid_t EngineTest::sentry_pid(const std::string& id) const { return read_pid(sandbox_dir(id) + "/sentry.pid"); }
pid_t EngineTest::init_pid(const std::string& id) const { return read_pid(sandbox_dir(id) + "/init.pid"); }

long EngineTest::vm_rss_kib(pid_t pid) const {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

bool EngineTest::is_mounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, d, mount_point;
    f >> a >> b >> c >> d >> mount_point;
    if (mount_point == path) return true;
  }
  return false;
}

bool EngineTest::cgroup_exists(const std::string& id) {
  for (auto* base : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/unified",
                     "/sys/fs/cgroup"})
    if (path_exists(std::string(base) + "/cryo/" + id)) return true;
  return false;
}

bool EngineTest::process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A zombie is dead for our purposes.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  auto p = s.rfind(')');
  return p != std::string::npos && p + 2 < s.size() && s[p + 2] != 'Z';
}

}  // namespace cryo::sentry_test
