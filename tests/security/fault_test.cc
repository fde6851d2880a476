// Faults: cryod or a sentry killed at bad moments, a damaged snapshot, two clients on one sandbox.
// After each, every sandbox is either running and usable or cleanly gone, and nothing is left on the
// host: no frozen cgroup, no stray mount, cgroup or process, no half snapshot.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "base/file.h"
#include "tests/security/cryod_fixture.h"

namespace cryo::sec {
namespace {

namespace fs = std::filesystem;
using Faults = CryodTest;
using namespace std::chrono_literals;

class Crash : public CryodTest {
 protected:
  void verify_and_clean(const Inventory& base) {
    auto c = client();
    auto list = c.get("/v1/sandboxes?all=true");
    for (auto& s : list["sandboxes"]) {
      std::string id = s["sandbox_id"];
      ids_.insert(id);
      if (s["state"] == "running") {
        auto r = sh(id, "echo alive", 20);
        EXPECT_EQ(r["stdout"], "alive\n") << id << " is listed as running but does not answer";
      }
    }
    auto inv = inventory();
    EXPECT_TRUE(inv.frozen.empty()) << base.diff(inv);
    // Only complete, recorded snapshots remain, and each restores.
    auto snaps = c.get("/v1/snapshots?limit=100");
    std::set<std::string> recorded;
    for (auto& s : snaps["snapshots"]) recorded.insert(s["snapshot_id"]);
    for (auto& e : fs::directory_iterator(cryod_->state() + "/snapshots"))
      EXPECT_TRUE(recorded.count(e.path().filename())) << "unrecorded snapshot dir " << e.path();
    for (auto& sid : recorded) {
      std::string fork = create({{"snapshot_id", sid}});
      EXPECT_EQ(sh(fork, "echo fork")["stdout"], "fork\n");
      kill_sandbox(fork);
      c.del("/v1/snapshots/" + sid);
    }
    json running = c.get("/v1/sandboxes");  // named: a range-for over get(...)[...] would dangle
    for (auto& s : running["sandboxes"]) kill_sandbox(s["sandbox_id"]);
    EXPECT_EQ(settle(base, 20), "");
  }
};

// SIGKILL of cryod while it snapshots a sandbox that keeps a background process busy.
TEST_F(Crash, CryodKilledDuringSnapshot) {
  client().get("/v1/health");
  auto base = inventory();
  for (int delay_ms : {20, 150, 400}) {
    SCOPED_TRACE("kill after " + std::to_string(delay_ms) + " ms");
    std::string id = create();
    client().post("/v1/sandboxes/" + id + "/commands",
                  {{"cmd", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"},
                   {"background", true}});
    std::thread snapper([&] {
      try {
        snapshot(id);
      } catch (const std::exception&) {
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    cryod_->kill9();
    snapper.join();
    cryod_->start();
    // The sandbox was not wedged by the interrupted snapshot: it answers and its counter moves on.
    auto a = sh(id, "cat /tmp/count", 20)["stdout"].get<std::string>();
    std::this_thread::sleep_for(300ms);
    auto b = sh(id, "cat /tmp/count", 20)["stdout"].get<std::string>();
    EXPECT_NE(a, b) << "the sandbox's process does not run (frozen?)";
    auto rec = client().get("/v1/sandboxes/" + id);
    EXPECT_EQ(rec["state"], "running") << rec.dump();
    kill_sandbox(id);
    verify_and_clean(base);
  }
}

// SIGKILL of cryod while it creates a sandbox, at several points of the sentry's bring-up. After
// the restart no sandbox may run unlisted: it is either listed (and works) or gone, with nothing
// of it left on the host.
TEST_F(Crash, CryodKilledDuringCreate) {
  client().get("/v1/health");
  auto base = inventory();
  for (int delay_ms : {10, 60, 150, 400}) {
    SCOPED_TRACE("kill after " + std::to_string(delay_ms) + " ms");
    std::thread creator([&] {
      try {
        client().post("/v1/sandboxes", json::object());
      } catch (const std::exception&) {
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    cryod_->kill9();
    creator.join();
    // A sentry still coming up finds its engine gone when it reports; give it the time to.
    std::this_thread::sleep_for(1500ms);
    cryod_->start();
    verify_and_clean(base);
    if (HasFailure()) return;
  }
}

// SIGKILL of a sentry: the sandbox is reported gone and nothing of it stays on the host.
TEST_F(Faults, SentryKilled) {
  client().get("/v1/health");
  auto base = inventory();
  std::string id = create();
  client().post("/v1/sandboxes/" + id + "/commands", {{"cmd", "sleep 1000"}, {"background", true}});
  pid_t sentry = sentry_pid(id);
  ASSERT_GT(sentry, 0);
  ASSERT_EQ(::kill(sentry, SIGKILL), 0);
  // The API reports it gone (a command fails with a conflict, the record says it is not running).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    try {
      sh(id, "true", 5);
    } catch (const service::ApiError& e) {
      gone = e.status() == 409 || e.status() == 404;
    }
    if (!gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(gone);
  try {
    kill_sandbox(id);  // clean-up of a dead sandbox must work too
  } catch (const service::ApiError& e) {
    EXPECT_EQ(e.status(), 404) << e.what();
  }
  EXPECT_EQ(settle(base, 20), "");
  // Also after a cryod restart (reconciliation marks it stopped).
  cryod_->stop();
  cryod_->start();
  auto rec = client().get("/v1/sandboxes/" + id);
  EXPECT_NE(rec["state"], "running") << rec.dump();
}

// Damaged snapshots: a flipped byte in a CRIU image, a truncated rootfs diff, a missing file.
// Restore fails with a clear error, and no half-restored sandbox is left behind.
TEST_F(Faults, CorruptedSnapshotsAreRefused) {
  std::string id = create();
  put(id, "/workspace/data", std::string(100000, 'd'));
  client().post("/v1/sandboxes/" + id + "/commands", {{"cmd", "sleep 1000"}, {"background", true}});
  std::string snap = snapshot(id);
  kill_sandbox(id);
  std::string dir = cryod_->state() + "/snapshots/" + snap + "/criu";
  ASSERT_TRUE(path_exists(dir + "/cryo-checkpoint.json"));
  // The restore works before we damage anything.
  std::string ok = create({{"snapshot_id", snap}});
  EXPECT_EQ(sh(ok, "wc -c < /workspace/data")["stdout"], "100000\n");
  kill_sandbox(ok);
  auto base = inventory();

  auto pages = [&] {
    for (auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind("pages-", 0) == 0) return e.path().string();
    return std::string();
  }();
  ASSERT_FALSE(pages.empty());
  struct Damage {
    std::string name, file;
    std::function<void(const std::string&)> apply;
  };
  auto flip = [](const std::string& f) {
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(0, std::ios::end);
    auto size = static_cast<long>(io.tellg());
    io.seekg(size / 2);
    char c;
    io.get(c);
    io.seekp(size / 2);
    io.put(static_cast<char>(c ^ 0x5a));
  };
  auto truncate_half = [](const std::string& f) { fs::resize_file(f, fs::file_size(f) / 2); };
  std::vector<Damage> damages = {
      {"flipped byte in pages", pages, flip},
      {"flipped byte in core", dir + "/core-1.img", flip},
      {"truncated rootfs diff", dir + "/rootfs-diff.tar", truncate_half},
      {"missing inventory", dir + "/inventory.img", [](const std::string& f) { fs::remove(f); }},
  };
  for (auto& d : damages) {
    SCOPED_TRACE(d.name);
    if (!path_exists(d.file)) {
      ADD_FAILURE() << "no " << d.file;
      continue;
    }
    std::string saved = read_file(d.file);
    d.apply(d.file);
    try {
      std::string bad = create({{"snapshot_id", snap}});
      ADD_FAILURE() << "a damaged snapshot restored as " << bad << ": " << sh(bad, "echo hi").dump();
    } catch (const service::ApiError& e) {
      std::printf("%s -> %d %s\n", d.name.c_str(), e.status(), e.what());
      EXPECT_NE(std::string(e.what()).find("snapshot"), std::string::npos) << e.what();
    }
    EXPECT_EQ(client().get("/v1/sandboxes")["sandboxes"].size(), 0u) << "a half-restored sandbox";
    write_file_atomic(d.file, saved, 0600);
    EXPECT_EQ(settle(base, 20), "");
  }
  // Repaired, it restores again.
  std::string again = create({{"snapshot_id", snap}});
  EXPECT_EQ(sh(again, "wc -c < /workspace/data")["stdout"], "100000\n");
}

// KNOWN ISSUE, disabled because it hangs: a process the sandbox itself stopped (kill -STOP, a
// shell's Ctrl-Z, a debugger that attached and left) wedges a snapshot. CRIU freezes the cgroup,
// then PTRACE_SEIZE of the stopped, frozen task waits in the kernel (ptrace_attach, state D) for a
// trap the frozen task can never take; the snapshot request never returns and the sandbox stays
// frozen until criu is SIGKILLed (the failed dump then leaves it frozen as well). Run by hand with
// --gtest_also_run_disabled_tests once the checkpoint path handles stopped tasks (or has a deadline).
TEST_F(Faults, SnapshotOfASandboxWithAStoppedProcess) {
  std::string id = create();
  client().post("/v1/sandboxes/" + id + "/commands", {{"cmd", "sleep 1000"}, {"background", true}});
  sh(id, "sleep 0.2; kill -STOP $(pidof sleep)");
  std::string snap = snapshot(id);
  EXPECT_EQ(sh(id, "echo alive", 10)["stdout"], "alive\n");
  client().del("/v1/snapshots/" + snap);
}

// Two clients acting on one sandbox at once: snapshots, commands, file writes and a kill race.
// Each call either succeeds or fails cleanly; afterwards nothing is frozen or leaked.
TEST_F(Faults, TwoClientsOnOneSandbox) {
  client().get("/v1/health");
  auto base = inventory();
  std::string id = create();
  std::atomic<int> snaps{0}, cmds{0}, errors{0};
  std::vector<std::string> snap_ids;
  std::mutex mu;
  auto worker = [&](int who) {
    auto c = client();
    for (int i = 0; i < 4; ++i) {
      try {
        if (who == 0) {
          std::string s = c.post("/v1/sandboxes/" + id + "/snapshots").at("snapshot_id");
          std::lock_guard l(mu);
          snap_ids.push_back(s);
          ++snaps;
        } else {
          c.put_bytes("/v1/sandboxes/" + id + "/files?path=/workspace/f" + std::to_string(i), "x");
          auto r = c.post("/v1/sandboxes/" + id + "/commands", {{"cmd", "echo " + std::to_string(i)}});
          if (r.value("stdout", "") == std::to_string(i) + "\n") ++cmds;
        }
      } catch (const service::ApiError& e) {
        ++errors;
        EXPECT_LT(e.status(), 500) << e.what();
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1), c2(worker, 0);
  a.join();
  b.join();
  c2.join();
  std::printf("snapshots %d, commands %d, refused %d\n", snaps.load(), cmds.load(), errors.load());
  EXPECT_GE(snaps.load(), 1);
  EXPECT_EQ(cmds.load(), 4);
  EXPECT_TRUE(inventory().frozen.empty());
  // Kill from two clients at once while a third snapshots: one kill wins, the other gets 404/409.
  std::atomic<int> killed{0};
  auto killer = [&] {
    try {
      client().del("/v1/sandboxes/" + id);
      ++killed;
    } catch (const service::ApiError& e) {
      EXPECT_LT(e.status(), 500) << e.what();
    }
  };
  std::thread s([&] {
    try {
      std::string sid = snapshot(id);
      std::lock_guard l(mu);
      snap_ids.push_back(sid);
    } catch (const service::ApiError& e) {
      EXPECT_LT(e.status(), 500) << e.what();
    }
  });
  std::this_thread::sleep_for(50ms);
  std::thread k1(killer), k2(killer);
  s.join();
  k1.join();
  k2.join();
  EXPECT_GE(killed.load(), 1);
  for (auto& sid : snap_ids) client().del("/v1/snapshots/" + sid);
  EXPECT_EQ(settle(base, 20), "");
}

}  // namespace
}  // namespace cryo::sec
