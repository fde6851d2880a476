// Snapshot a running sandbox, then restore it twice side by side.
#include <unistd.h>

#include <thread>

#include "base/file.h"
#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using namespace std::chrono_literals;

// A counter process detached from the command's pipes (stdio on /dev/null), as a user's
// long-running server would be: it must keep counting in the original and in every clone.
constexpr const char* kStartCounter =
    "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done' "
    "</dev/null >/dev/null 2>&1 &";

int counter(service::SandboxEngine& e, const std::string& id) {
  service::CommandSpec cmd;
  cmd.argv = {"cat", "/tmp/counter"};
  auto r = e.run(id, cmd, {});
  return r.stdout_data.empty() ? -1 : std::stoi(r.stdout_data);
}

class SnapshotTest : public EngineTest {};

TEST_F(SnapshotTest, SnapshotThenTwoRestoresSideBySide) {
  std::string id = create();
  ASSERT_EQ(run(id, "echo from-original > /workspace/state.txt").exit_code, 0);
  ASSERT_EQ(run(id, kStartCounter).exit_code, 0);
  std::this_thread::sleep_for(500ms);

  std::string snap = state_ + "/snapshots/snap-1";
  make_dirs(snap, 0700);
  auto t0 = std::chrono::steady_clock::now();
  engine_->snapshot(id, snap);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("snapshot took %lld ms\n", static_cast<long long>(ms));
  EXPECT_TRUE(path_exists(snap + "/sandbox.json"));
  EXPECT_TRUE(path_exists(snap + "/criu/cryo-checkpoint.json"));

  // The original keeps running.
  int before = counter(*engine_, id);
  std::this_thread::sleep_for(400ms);
  EXPECT_GT(counter(*engine_, id), before);
  ASSERT_EQ(run(id, "echo changed-after-snapshot > /workspace/state.txt").exit_code, 0);

  service::SandboxSpec from_snap;
  from_snap.snapshot_dir = snap;
  std::string a = create(from_snap);
  std::string b = create(from_snap);
  for (auto& clone : {a, b}) {
    SCOPED_TRACE(clone);
    EXPECT_EQ(engine_->read_file(clone, "/workspace/state.txt"), "from-original\n");
    EXPECT_EQ(run(clone, "cat /workspace/state.txt").stdout_data, "from-original\n");
    int c1 = counter(*engine_, clone);
    std::this_thread::sleep_for(400ms);
    EXPECT_GT(counter(*engine_, clone), c1) << "the restored counter process is not running";
  }
  // Independent: a write in one clone is not seen by the other.
  ASSERT_EQ(run(a, "echo only-a > /workspace/state.txt").exit_code, 0);
  EXPECT_EQ(engine_->read_file(b, "/workspace/state.txt"), "from-original\n");
  EXPECT_EQ(engine_->read_file(id, "/workspace/state.txt"), "changed-after-snapshot\n");

  // Clones die cleanly, and the snapshot stays usable after the original is gone.
  engine_->kill(a);
  engine_->kill(id);
  std::string c = create(from_snap);
  EXPECT_EQ(engine_->read_file(c, "/workspace/state.txt"), "from-original\n");
  engine_->kill(b);
  engine_->kill(c);
  EXPECT_FALSE(cgroup_exists(a));
  EXPECT_FALSE(is_mounted(sandbox_dir(b) + "/bundle/rootfs"));
}

// The writable layer's size rides in the snapshot: a clone's writes stop where the original's
// would, on a tmpfs cryo's restore mounted (and its kill unmounts).
TEST_F(SnapshotTest, ClonesKeepTheDiskLimit) {
  service::SandboxSpec spec;
  spec.limits.disk_bytes = 16 << 20;
  std::string id = create(spec);
  auto full = run(id, "head -c 40000000 /dev/zero > /tmp/fill");
  EXPECT_NE(full.exit_code, 0);
  EXPECT_NE(full.stderr_data.find("No space left on device"), std::string::npos) << full.stderr_data;
  ASSERT_EQ(run(id, "rm /tmp/fill && echo kept > /tmp/kept").exit_code, 0);

  std::string snap = state_ + "/snapshots/snap-disk";
  make_dirs(snap, 0700);
  engine_->snapshot(id, snap);
  service::SandboxSpec from_snap;
  from_snap.snapshot_dir = snap;
  std::string clone = create(from_snap);
  std::string layer = state_ + "/run/" + clone + "/overlay";
  EXPECT_TRUE(is_mounted(layer));
  EXPECT_EQ(run(clone, "cat /tmp/kept").stdout_data, "kept\n");
  full = run(clone, "head -c 40000000 /dev/zero > /tmp/fill; stat -c %s /tmp/fill");
  EXPECT_NE(full.stderr_data.find("No space left on device"), std::string::npos) << full.stderr_data;
  EXPECT_LE(std::stoll("0" + full.stdout_data), 16 << 20);
  engine_->kill(clone);
  EXPECT_FALSE(is_mounted(layer));
  EXPECT_FALSE(is_mounted(sandbox_dir(clone) + "/bundle/rootfs"));
  engine_->kill(id);
}

TEST_F(SnapshotTest, SnapshotDirectoryCanBeRenamedBeforeRestore) {
  // cryod writes into <id>.tmp and renames it when complete.
  std::string id = create();
  ASSERT_EQ(run(id, "echo x > /workspace/f").exit_code, 0);
  std::string tmp = state_ + "/snapshots/snap-2.tmp", final_dir = state_ + "/snapshots/snap-2";
  make_dirs(tmp, 0700);
  engine_->snapshot(id, tmp);
  ASSERT_EQ(::rename(tmp.c_str(), final_dir.c_str()), 0);
  service::SandboxSpec from_snap;
  from_snap.snapshot_dir = final_dir;
  std::string clone = create(from_snap);
  EXPECT_EQ(run(clone, "cat /workspace/f").stdout_data, "x\n");
}

TEST_F(SnapshotTest, RestoreFromMissingSnapshotFails) {
  service::SandboxSpec from_snap;
  from_snap.snapshot_dir = state_ + "/snapshots/none";
  EXPECT_THROW(create(from_snap), service::NotFound);
  EXPECT_TRUE(engine_->running().empty());
}

}  // namespace
}  // namespace cryo::sentry_test
