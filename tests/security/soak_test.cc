// Soak: many cycles of create -> exec -> snapshot -> fork -> delete through cryod, several at once,
// then the host must be exactly where it started: mounts, cgroups, processes, cryod's fds, files and
// bytes in the state dir. 500 cycles, 8 at once (about 75 s here); CRYO_SOAK_CYCLES and
// CRYO_SOAK_PARALLEL change that.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "tests/security/cryod_fixture.h"

namespace cryo::sec {
namespace {

using Soak = CryodTest;

int env_int(const char* name, int dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : dflt;
}

TEST_F(Soak, CreateExecSnapshotForkDeleteLeavesNothing) {
  const int cycles = env_int("CRYO_SOAK_CYCLES", 500), parallel = env_int("CRYO_SOAK_PARALLEL", 8);
  // Warm up once (the default image, sqlite, the thread pool), then take the baseline.
  {
    std::string id = create();
    sh(id, "true");
    std::string s = snapshot(id);
    std::string f = create({{"snapshot_id", s}});
    kill_sandbox(f);
    kill_sandbox(id);
    client().del("/v1/snapshots/" + s);
  }
  auto base = inventory();
  std::atomic<int> next{0}, ok{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto t0 = std::chrono::steady_clock::now();
  auto worker = [&] {
    auto c = client();
    for (int n; (n = next++) < cycles;) {
      std::string stage = "create";
      try {
        std::string id = c.post("/v1/sandboxes", {{"memory_mb", 256}, {"pids", 128}}).at("sandbox_id");
        {
          std::lock_guard l(mu);
          ids_.insert(id);
        }
        stage = "exec";
        std::string word = "cycle" + std::to_string(n);
        auto r = c.post("/v1/sandboxes/" + id + "/commands", {{"cmd", "echo " + word + " > /workspace/w; cat /workspace/w"}});
        if (r.value("stdout", "") != word + "\n") throw std::runtime_error("exec: " + r.dump());
        stage = "snapshot";
        std::string snap = c.post("/v1/sandboxes/" + id + "/snapshots").at("snapshot_id");
        stage = "fork";
        std::string fork = c.post("/v1/sandboxes", {{"snapshot_id", snap}}).at("sandbox_id");
        {
          std::lock_guard l(mu);
          ids_.insert(fork);
        }
        r = c.post("/v1/sandboxes/" + fork + "/commands", {{"cmd", "cat /workspace/w"}});
        if (r.value("stdout", "") != word + "\n") throw std::runtime_error("fork: " + r.dump());
        stage = "delete";
        c.del("/v1/sandboxes/" + fork);
        c.del("/v1/sandboxes/" + id);
        c.del("/v1/snapshots/" + snap);
        ++ok;
      } catch (const std::exception& e) {
        std::lock_guard l(mu);
        failures.push_back("cycle " + std::to_string(n) + " " + stage + ": " + e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < parallel; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("soak: %d/%d cycles ok, %d in parallel, %.1f s (%.2f s/cycle)\n", ok.load(), cycles, parallel, secs,
              secs / cycles);
  RecordProperty("soak_cycles_ok", ok.load());
  for (auto& f : failures) ADD_FAILURE() << f;
  EXPECT_EQ(ok.load(), cycles);
  // Each snapshot's rootfs diff is stored once by digest in the runtime's layer store (run/layers/)
  // for its clones; deleting the snapshot (after its clone) prunes it.
  int layer_files = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(cryod_->state() + "/run/layers/blobs/sha256", ec)) {
    (void)e;
    ++layer_files;
  }
  EXPECT_EQ(layer_files, 0) << "diff layers left after all " << cycles << " snapshots were deleted";
  std::string leaks;
  for (int i = 0; i < 150; ++i) {
    leaks = base.diff(inventory());
    if (leaks.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(leaks, "") << "after " << cycles << " cycles:\n" << leaks;
}

}  // namespace
}  // namespace cryo::sec
