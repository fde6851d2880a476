// Restart reconciliation, sandbox timeouts, and concurrency.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "service/tests/test_server.h"

namespace cryo::service::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class Lifecycle : public ServerTest {
 protected:
  std::string state_of(const std::string& id) { return get("/v1/sandboxes/" + id).j.value("state", "?"); }
  // Polls until the sandbox leaves `running` or the deadline passes.
  std::string wait_not_running(const std::string& id, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      auto s = state_of(id);
      if (s != "running") return s;
      std::this_thread::sleep_for(20ms);
    }
    return state_of(id);
  }
};

TEST_F(Lifecycle, ReconcilesWithTheEngineOnRestart) {
  start();
  std::string survivor = create_sandbox();
  std::string died = create_sandbox();
  std::string snap = post("/v1/sandboxes/" + survivor + "/snapshots").j["snapshot_id"];
  std::string lost_snap = post("/v1/sandboxes/" + survivor + "/snapshots").j["snapshot_id"];
  server_.reset();

  // While cryod was down: a sentry died, another appeared, a snapshot dir vanished, a crash left
  // a .tmp dir and an unrecorded published dir.
  world_->boxes.erase(died);
  world_->boxes["sbx-00000000000000aa"] = FakeBox{};
  std::string snaps = options_.state_dir + "/snapshots/";
  remove_tree(snaps + lost_snap);
  make_dirs(snaps + "snap-00000000000000bb.tmp/sub");
  make_dirs(snaps + "snap-00000000000000cc");

  start();
  EXPECT_EQ(state_of(survivor), "running");
  EXPECT_EQ(state_of(died), "stopped");
  EXPECT_EQ(state_of("sbx-00000000000000aa"), "running");  // adopted
  auto list = get("/v1/snapshots");
  ASSERT_EQ(list.j["snapshots"].size(), 1u);
  EXPECT_EQ(list.j["snapshots"][0]["snapshot_id"], snap);
  EXPECT_FALSE(fs::exists(snaps + "snap-00000000000000bb.tmp"));
  EXPECT_FALSE(fs::exists(snaps + "snap-00000000000000cc"));
  EXPECT_TRUE(fs::exists(snaps + snap));
  // Re-adopted sandboxes are fully usable.
  EXPECT_EQ(post("/v1/sandboxes/sbx-00000000000000aa/commands", json{{"cmd", "x"}}).status, 200);
}

TEST_F(Lifecycle, UnfinishedKillIsCompletedOnRestart) {
  start();
  std::string id = create_sandbox();
  server_.reset();
  {  // as if cryod crashed after recording the kill but before the engine did it
    Catalogue c(options_.state_dir + "/cryod.db");
    c.set_sandbox_state(id, "killed", 1);
  }
  start();
  EXPECT_FALSE(world_->boxes.count(id));
}

TEST_F(Lifecycle, SandboxIsKilledWhenItsTimeoutExpires) {
  start();
  std::string shortlived = create_sandbox(json{{"timeout", 0.3}});
  std::string forever = create_sandbox();
  EXPECT_TRUE(get("/v1/sandboxes/" + shortlived).j.contains("expires_at"));
  EXPECT_EQ(wait_not_running(shortlived, 5000ms), "timed_out");
  EXPECT_FALSE(world_->boxes.count(shortlived));
  EXPECT_EQ(state_of(forever), "running");
}

TEST_F(Lifecycle, TimeoutsSurviveRestart) {
  start();
  std::string expires_while_down = create_sandbox(json{{"timeout", 0.2}});
  std::string expires_later = create_sandbox(json{{"timeout", 1.5}});
  server_.reset();
  std::this_thread::sleep_for(400ms);
  start();
  EXPECT_EQ(wait_not_running(expires_while_down, 2000ms), "timed_out");
  EXPECT_EQ(state_of(expires_later), "running");
  EXPECT_EQ(wait_not_running(expires_later, 5000ms), "timed_out");
}

TEST_F(Lifecycle, ManyConcurrentRequests) {
  start();
  constexpr int kThreads = 24, kRounds = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto c = post("/v1/sandboxes", json{{"metadata", {{"t", std::to_string(t)}}}});
        if (c.status != 201) {
          ++failures;
          continue;
        }
        std::string id = c.j["sandbox_id"];
        std::string word = "w" + std::to_string(t) + "-" + std::to_string(i);
        auto r = post("/v1/sandboxes/" + id + "/commands", json{{"argv", {"echo", word}}, {"envs", {{"SLEEP_MS", "5"}}}});
        if (r.status != 200 || r.j["stdout"] != word) ++failures;
        if (put("/v1/sandboxes/" + id + "/files?path=/f", word).status != 200) ++failures;
        if (get("/v1/sandboxes/" + id + "/files?path=/f").body != word) ++failures;
        if (i == 0 && post("/v1/sandboxes/" + id + "/snapshots").status != 201) ++failures;
        if (del("/v1/sandboxes/" + id).status != 200) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(get("/v1/sandboxes?all=true").j["sandboxes"].size(), size_t{kThreads * kRounds});
  EXPECT_EQ(get("/v1/snapshots?limit=1000").j["snapshots"].size(), size_t{kThreads});
  EXPECT_TRUE(world_->boxes.empty());
}

}  // namespace
}  // namespace cryo::service::testing
