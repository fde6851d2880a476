#include <filesystem>
#include <regex>
#include <set>

#include "service/tests/test_server.h"

namespace cryo::service::testing {
namespace {

namespace fs = std::filesystem;

class SnapshotApi : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    start();
    id_ = create_sandbox();
  }
  std::string snapshots_dir() { return options_.state_dir + "/snapshots"; }
  std::vector<std::string> dir_names() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(snapshots_dir())) out.push_back(e.path().filename());
    return out;
  }
  std::string id_;
};

TEST_F(SnapshotApi, CreateGetRestoreDelete) {
  put("/v1/sandboxes/" + id_ + "/files?path=/data.csv", "1,2,3");
  auto r = post("/v1/sandboxes/" + id_ + "/snapshots");
  ASSERT_EQ(r.status, 201) << r.body;
  std::string snap = r.j["snapshot_id"];
  EXPECT_TRUE(std::regex_match(snap, std::regex("snap-[0-9a-f]{16}")));
  EXPECT_EQ(r.j["sandbox_id"], id_);
  EXPECT_TRUE(std::regex_match(r.j["created_at"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
  EXPECT_GT(r.j["size_bytes"].get<int64_t>(), 4096);
  // The engine wrote into <id>.tmp; it was renamed to <id>.
  EXPECT_EQ(world_->count_calls("snapshot " + id_ + " " + snapshots_dir() + "/" + snap + ".tmp"), 1u);
  EXPECT_EQ(dir_names(), std::vector<std::string>{snap});
  EXPECT_EQ(get("/v1/snapshots/" + snap).j, r.j);

  // Usable after its sandbox is gone, and twice (two independent forks).
  del("/v1/sandboxes/" + id_);
  for (int i = 0; i < 2; ++i) {
    auto fork = post("/v1/sandboxes", json{{"snapshot_id", snap}});
    ASSERT_EQ(fork.status, 201) << fork.body;
    EXPECT_EQ(fork.j["snapshot_id"], snap);
    std::string fid = fork.j["sandbox_id"];
    EXPECT_EQ(world_->count_calls("create " + fid + " from " + snapshots_dir() + "/" + snap), 1u);
    EXPECT_EQ(get("/v1/sandboxes/" + fid + "/files?path=/data.csv").body, "1,2,3");
  }
  EXPECT_EQ(del("/v1/snapshots/" + snap).status, 200);
  EXPECT_TRUE(dir_names().empty());
  EXPECT_EQ(get("/v1/snapshots/" + snap).status, 404);
  EXPECT_EQ(post("/v1/sandboxes", json{{"snapshot_id", snap}}).status, 404);
}

TEST_F(SnapshotApi, FailedSnapshotLeavesNothingBehind) {
  world_->fail_snapshot = true;
  auto r = post("/v1/sandboxes/" + id_ + "/snapshots");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.error_code(), "internal");
  EXPECT_NE(r.error_message().find("injected"), std::string::npos);
  EXPECT_TRUE(dir_names().empty());
  EXPECT_EQ(get("/v1/snapshots").j["snapshots"].size(), 0u);
  // The sandbox is untouched and snapshots work again afterwards.
  EXPECT_EQ(get("/v1/sandboxes/" + id_).j["state"], "running");
  world_->fail_snapshot = false;
  EXPECT_EQ(post("/v1/sandboxes/" + id_ + "/snapshots").status, 201);
}

TEST_F(SnapshotApi, PaginationNewestFirstWithCursors) {
  std::vector<std::string> made;
  for (int i = 0; i < 7; ++i) made.push_back(post("/v1/sandboxes/" + id_ + "/snapshots").j["snapshot_id"]);
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto r = get("/v1/snapshots?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    for (auto& s : r.j["snapshots"]) seen.push_back(s["snapshot_id"]);
    cursor = r.j["next_cursor"].is_null() ? "" : r.j["next_cursor"].get<std::string>();
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  std::vector<std::string> expected(made.rbegin(), made.rend());
  EXPECT_EQ(seen, expected);
  // A snapshot created between pages does not shift the next page.
  auto first = get("/v1/snapshots?limit=2");
  post("/v1/sandboxes/" + id_ + "/snapshots");
  auto second = get("/v1/snapshots?limit=2&cursor=" + first.j["next_cursor"].get<std::string>());
  EXPECT_EQ(second.j["snapshots"][0]["snapshot_id"], made[4]);

  EXPECT_EQ(get("/v1/snapshots?limit=0").status, 400);
  EXPECT_EQ(get("/v1/snapshots?limit=abc").status, 400);
  auto bad = get("/v1/snapshots?cursor=zzz");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.error_message().find("`cursor`"), std::string::npos);
  EXPECT_EQ(get("/v1/snapshots").j["snapshots"].size(), 8u);  // default limit 20
}

}  // namespace
}  // namespace cryo::service::testing
