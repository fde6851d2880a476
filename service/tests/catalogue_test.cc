#include "service/catalogue.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/file.h"
#include "service/sqlite.h"

namespace cryo::service {
namespace {

class CatalogueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-cat-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { remove_tree(dir_); }
  std::string dir_;
};

TEST_F(CatalogueTest, SandboxRoundTripAndState) {
  Catalogue c(dir_ + "/db");
  SandboxRecord r;
  r.id = "sbx-0000000000000001";
  r.state = "running";
  r.image = "py";
  r.created_ns = 5;
  r.expires_ns = 9;
  r.cpus = 1.5;
  r.memory_bytes = 1 << 20;
  r.pids = 10;
  r.disk_bytes = 64 << 20;
  r.network = true;
  r.metadata = {{"k", "v"}};
  c.add_sandbox(r);
  auto got = c.get_sandbox(r.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->image, "py");
  EXPECT_EQ(got->expires_ns, 9);
  EXPECT_DOUBLE_EQ(got->cpus, 1.5);
  EXPECT_EQ(got->disk_bytes, 64 << 20);
  EXPECT_TRUE(got->network);
  EXPECT_EQ(got->metadata.at("k"), "v");
  EXPECT_TRUE(c.set_sandbox_state(r.id, "killed", 7));
  EXPECT_FALSE(c.set_sandbox_state("sbx-nope", "killed", 7));
  EXPECT_TRUE(c.list_sandboxes(true).empty());
  ASSERT_EQ(c.list_sandboxes(false).size(), 1u);
  EXPECT_EQ(c.list_sandboxes(false)[0].ended_ns, 7);
}

TEST_F(CatalogueTest, SnapshotsPersistAcrossReopenNewestFirst) {
  {
    Catalogue c(dir_ + "/db");
    for (int i = 0; i < 5; ++i) c.add_snapshot({"snap-" + std::to_string(i), "sbx-a", 100, i, 0});
  }
  Catalogue c(dir_ + "/db");
  EXPECT_EQ(c.count_snapshots(), 5);
  auto page = c.list_snapshots(2, std::nullopt);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, "snap-4");
  EXPECT_EQ(page[1].id, "snap-3");
  auto next = c.list_snapshots(10, page[1].seq);
  ASSERT_EQ(next.size(), 3u);
  EXPECT_EQ(next[0].id, "snap-2");
  EXPECT_TRUE(c.delete_snapshot("snap-2"));
  EXPECT_FALSE(c.delete_snapshot("snap-2"));
  EXPECT_FALSE(c.get_snapshot("snap-2"));
}

TEST_F(CatalogueTest, UsesWal) {
  Catalogue c(dir_ + "/db");
  Database db(dir_ + "/db");
  auto st = db.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.text(0), "wal");
}

// Statements go back to the database for reuse: a reused one starts afresh, with no bindings,
// and one left after its first row no longer holds its read (a full checkpoint gets through).
TEST_F(CatalogueTest, ReusedStatementsStartClean) {
  Database db(dir_ + "/db");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE t (v TEXT)");
  db.exec("INSERT INTO t VALUES ('a'), ('b')");
  {
    auto st = db.prepare("SELECT v FROM t ORDER BY v");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.text(0), "a");
  }
  {
    Database other(dir_ + "/db");
    other.exec("INSERT INTO t VALUES ('c')");
    auto ck = other.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    ASSERT_TRUE(ck.step());
    EXPECT_EQ(ck.integer(0), 0);  // not busy: no reader in the way
  }
  std::vector<std::string> rows;
  for (auto st = db.prepare("SELECT v FROM t ORDER BY v"); st.step();) rows.push_back(st.text(0));
  EXPECT_EQ(rows, (std::vector<std::string>{"a", "b", "c"}));
  {
    auto q = db.prepare("SELECT ?");
    q.bind(1, std::string("x"));
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.text(0), "x");
  }
  auto q = db.prepare("SELECT ?");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.optional_text(0), std::nullopt);
}

// A catalogue written before disk limits (no disk_bytes column) opens, and its rows read as 0.
TEST_F(CatalogueTest, OldSandboxTableGainsDiskBytes) {
  {
    Database db(dir_ + "/db");
    db.exec(
        "CREATE TABLE sandboxes (id TEXT PRIMARY KEY, state TEXT NOT NULL, image TEXT NOT NULL,"
        " created_ns INTEGER NOT NULL, expires_ns INTEGER NOT NULL DEFAULT 0, ended_ns INTEGER NOT NULL DEFAULT 0,"
        " snapshot_id TEXT NOT NULL DEFAULT '', cpus REAL NOT NULL DEFAULT 0, memory_bytes INTEGER NOT NULL DEFAULT 0,"
        " pids INTEGER NOT NULL DEFAULT 0, network INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}')");
    db.exec("INSERT INTO sandboxes (id, state, image, created_ns) VALUES ('sbx-0000000000000001', 'running', 'default', 1)");
  }
  Catalogue c(dir_ + "/db");
  auto got = c.get_sandbox("sbx-0000000000000001");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->disk_bytes, 0);
}

}  // namespace
}  // namespace cryo::service
