// Size-limited writable layers: the tmpfs option string, and (as root) the tmpfs under a real
// overlay: the size bounds writes with ENOSPC, the diff of its upper exports, nothing stays mounted.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"
#include "fsimage/writable_layer.h"

namespace cryo::fsimage {
namespace {

using testing::TempDir;
using testing::write_text;

bool is_mounted(const std::string& path) {
  return read_file("/proc/self/mountinfo").find(" " + path + " ") != std::string::npos;
}

// Writes up to `mib` MiB to `path`; returns {MiB written, errno of the failing write or 0}.
std::pair<int, int> fill(const std::string& path, int mib) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {0, errno};
  std::string chunk(1 << 20, 'x');
  int done = 0, err = 0;
  for (; done < mib; ++done) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n != static_cast<ssize_t>(chunk.size())) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
  }
  ::close(fd);
  return {done, err};
}

TEST(TmpfsData, SizeInodesAndMode) {
  EXPECT_EQ(tmpfs_mount_data({.size_bytes = 64 << 20}), "size=67108864,nr_inodes=8192,mode=0700");
  // Small layers still get room for a userland's worth of files.
  EXPECT_EQ(tmpfs_mount_data({.size_bytes = 1 << 20}), "size=1048576,nr_inodes=4096,mode=0700");
  EXPECT_EQ(tmpfs_mount_data({.size_bytes = 4096, .nr_inodes = 10, .mode = 0755}), "size=4096,nr_inodes=10,mode=0755");
}

TEST(TmpfsData, ZeroSizeRefused) {
  try {
    tmpfs_mount_data({});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("size"), std::string::npos) << e.what();
  }
}

class WritableLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for tmpfs and overlayfs";
    lower = tmp.mkdir("lower");
    merged = tmp.mkdir("merged");
    write_text(lower + "/keep", "keep");
    write_text(lower + "/gone", "gone");
    make_dirs(lower + "/dir");
    write_text(lower + "/dir/old", "old");
  }

  TempDir tmp;
  std::string lower, merged;
};

TEST_F(WritableLayerTest, UpperAndWorkOnAPrivateTmpfsUnmountedOnScopeExit) {
  std::string dir = tmp / "layer";  // created by the layer
  {
    WritableLayer layer(dir, 8 << 20);
    EXPECT_TRUE(is_mounted(dir));
    EXPECT_EQ(layer.upper(), dir + "/upper");
    EXPECT_EQ(layer.work(), dir + "/work");
    struct statfs fs;
    ASSERT_EQ(::statfs(layer.upper().c_str(), &fs), 0);
    EXPECT_EQ(fs.f_type, static_cast<decltype(fs.f_type)>(TMPFS_MAGIC));
    EXPECT_EQ(static_cast<uint64_t>(fs.f_blocks) * fs.f_bsize, 8u << 20);
    struct stat st;
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
  }
  EXPECT_FALSE(is_mounted(dir));
}

TEST_F(WritableLayerTest, OverlayWritesStopWithEnospcAtTheSize) {
  WritableLayer layer(tmp / "layer", 16 << 20);
  OverlayMount mnt({{lower}, layer.upper(), layer.work()}, merged);
  auto [written, err] = fill(merged + "/big", 64);
  EXPECT_EQ(err, ENOSPC);
  EXPECT_GE(written, 14);
  EXPECT_LE(written, 16);
  // The host side of the layer holds it, not the directory the layer was made in.
  struct stat st;
  ASSERT_EQ(::stat((layer.upper() + "/big").c_str(), &st), 0);
  EXPECT_LE(st.st_size, 16 << 20);
  // Space comes back when the file goes.
  ASSERT_EQ(::unlink((merged + "/big").c_str()), 0);
  EXPECT_EQ(fill(merged + "/small", 4), std::make_pair(4, 0));
}

TEST_F(WritableLayerTest, InodeLimitStopsAFloodOfEmptyFiles) {
  std::string dir = tmp / "layer";
  make_dirs(dir, 0700);
  TmpfsMount mount({.size_bytes = 8 << 20, .nr_inodes = 64}, dir);
  int made = 0, err = 0;
  for (; made < 1000; ++made) {
    int fd = ::open((dir + "/f" + std::to_string(made)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      err = errno;
      break;
    }
    ::close(fd);
  }
  EXPECT_EQ(err, ENOSPC);
  EXPECT_LT(made, 64);
}

// What a snapshot does with the upper: whiteouts and opaque dirs (trusted xattrs) exist on tmpfs
// too, and export_diff writes them as OCI whiteouts.
TEST_F(WritableLayerTest, DiffOfATmpfsUpperExports) {
  WritableLayer layer(tmp / "layer", 8 << 20);
  {
    OverlayMount mnt({{lower}, layer.upper(), layer.work()}, merged);
    write_text(merged + "/new", "new");
    ASSERT_EQ(::unlink((merged + "/gone").c_str()), 0);
    remove_tree(merged + "/dir");
    make_dirs(merged + "/dir");
    write_text(merged + "/dir/fresh", "fresh");
  }
  char v[8];
  ASSERT_EQ(::getxattr((layer.upper() + "/dir").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  LayerInfo info = export_diff(layer.upper(), tmp / "diff.tar");
  EXPECT_GT(info.size, 0u);

  std::string out = tmp.mkdir("out");
  import_layer(tmp / "diff.tar", out, {.overlay_whiteouts = true});
  struct stat st;
  ASSERT_EQ(::lstat((out + "/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
  EXPECT_EQ(read_file(out + "/new"), "new");
  EXPECT_EQ(read_file(out + "/dir/fresh"), "fresh");
  EXPECT_EQ(::getxattr((out + "/dir").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
}

TEST_F(WritableLayerTest, MountFailureNamesTargetAndLeavesNothing) {
  std::string file = tmp / "not-a-dir";
  write_text(file, "x");
  try {
    WritableLayer layer(file, 1 << 20);
    FAIL();
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_mounted(file));
}

}  // namespace
}  // namespace cryo::fsimage
