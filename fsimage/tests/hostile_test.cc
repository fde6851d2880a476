// Layer tars that try to write outside the target must be refused (needs root for chown).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"

namespace cryo::fsimage {
namespace {

using testing::TarBuilder;
using testing::TempDir;

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "import preserves ownership: needs root";
    target = tmp.mkdir("root/target");
    outside = tmp.mkdir("outside");
    testing::write_text(outside + "/victim", "original");
    before = testing::snapshot(tmp.path());
  }

  // Imports and expects a refusal whose message contains `needle`.
  void expect_refused(const std::string& tar, const std::string& needle,
                      ImportOptions opts = {}) {
    try {
      import_layer(tar, target, opts);
      ADD_FAILURE() << "import of hostile tar succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }

  // Nothing outside target changed: the rest of the temp tree is as before.
  void expect_outside_untouched() {
    auto now = testing::snapshot(tmp.path());
    auto strip = [&](std::map<std::string, testing::Node> m) {
      for (auto it = m.begin(); it != m.end();) {
        if (it->first.rfind("root/target/", 0) == 0 || it->first.rfind("t.tar", 0) == 0)
          it = m.erase(it);
        else
          ++it;
      }
      m.erase("root/target");  // its own mtime changes when entries go in
      return m;
    };
    std::string d = testing::diff(strip(before), strip(now));
    EXPECT_EQ(d, "") << d;
    EXPECT_EQ(read_file(outside + "/victim"), "original");
  }

  TempDir tmp;
  std::string target, outside;
  std::string tar() const { return tmp / "t.tar"; }
  std::map<std::string, testing::Node> before;
};

TEST_F(Hostile, DotDotRefused) {
  {
    TarBuilder t(tar());
    t.file("ok", "fine");
    t.file("../escape", "bad");
  }
  expect_refused(tar(), "../escape");
  EXPECT_FALSE(path_exists(tmp / "root/escape"));
  expect_outside_untouched();
}

TEST_F(Hostile, AbsolutePathRefused) {
  {
    TarBuilder t(tar());
    t.file(outside + "/abs", "bad");
  }
  expect_refused(tar(), "absolute");
  EXPECT_FALSE(path_exists(outside + "/abs"));
  expect_outside_untouched();
}

TEST_F(Hostile, WriteThroughAbsoluteSymlinkRefused) {
  {
    TarBuilder t(tar());
    t.symlink("evil", outside);
    t.file("evil/file", "bad");
  }
  expect_refused(tar(), "evil/file");
  EXPECT_FALSE(path_exists(outside + "/file"));
  expect_outside_untouched();
}

TEST_F(Hostile, WriteThroughRelativeSymlinkRefused) {
  {
    TarBuilder t(tar());
    t.dir("a");
    t.symlink("a/up", "../../../outside");
    t.file("a/up/victim", "overwritten");
  }
  expect_refused(tar(), "leads outside");
  expect_outside_untouched();
}

TEST_F(Hostile, SymlinkReplacedNotFollowed) {
  // A symlink then a file or dir of the same name: the link is replaced, never written through.
  {
    TarBuilder t(tar());
    t.symlink("x", outside + "/victim");
    t.file("x", "inside");
    t.symlink("d", outside);
    t.dir("d", 0777);
  }
  import_layer(tar(), target);
  struct stat st;
  ASSERT_EQ(::lstat((target + "/x").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(read_file(target + "/x"), "inside");
  ASSERT_EQ(::lstat((target + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  expect_outside_untouched();
}

TEST_F(Hostile, InTreeSymlinkParentStaysInside) {
  {
    TarBuilder t(tar());
    t.dir("sub");
    t.symlink("alias", "sub");
    t.file("alias/f", "in sub");
  }
  import_layer(tar(), target);
  EXPECT_EQ(read_file(target + "/sub/f"), "in sub");
  expect_outside_untouched();
}

TEST_F(Hostile, HardlinkOutsideRefused) {
  struct stat before_st;
  ASSERT_EQ(::stat("/etc/passwd", &before_st), 0);
  {
    TarBuilder t(tar());
    t.hardlink("hl", "../../etc/passwd");
  }
  expect_refused(tar(), "hl");
  {
    TarBuilder t(tar());
    t.hardlink("hl", "/etc/passwd");
  }
  expect_refused(tar(), "absolute");
  struct stat after_st;
  ASSERT_EQ(::stat("/etc/passwd", &after_st), 0);
  EXPECT_EQ(before_st.st_nlink, after_st.st_nlink);
  EXPECT_FALSE(path_exists(target + "/hl"));
  expect_outside_untouched();
}

TEST_F(Hostile, HardlinkThroughSymlinkRefused) {
  {
    TarBuilder t(tar());
    t.symlink("out", outside);
    t.hardlink("hl", "out/victim");
  }
  expect_refused(tar(), "hl");
  struct stat st;
  ASSERT_EQ(::stat((outside + "/victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
  // Even an in-tree symlink is refused as a hard-link path: real tars name the real path.
  {
    TarBuilder t(tar());
    t.dir("sub");
    t.file("sub/f", "data");
    t.symlink("alias", "sub");
    t.hardlink("hl", "alias/f");
  }
  expect_refused(tar(), "symlink");
  expect_outside_untouched();
}

TEST_F(Hostile, HardlinkInsideWorks) {
  {
    TarBuilder t(tar());
    t.dir("d");
    t.file("d/f", "data");
    t.hardlink("g", "d/f");
  }
  import_layer(tar(), target);
  struct stat a, b;
  ASSERT_EQ(::stat((target + "/d/f").c_str(), &a), 0);
  ASSERT_EQ(::stat((target + "/g").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
}

TEST_F(Hostile, DeviceNodeRefusedUnlessAllowed) {
  {
    TarBuilder t(tar());
    t.dir("dev");
    t.chardev("dev/mem2", 1, 1);
  }
  expect_refused(tar(), "dev/mem2");
  expect_refused(tar(), "device");
  EXPECT_FALSE(path_exists(target + "/dev/mem2"));
  import_layer(tar(), target, {.allow_devices = true});
  struct stat st;
  ASSERT_EQ(::lstat((target + "/dev/mem2").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 1));
  expect_outside_untouched();
}

TEST_F(Hostile, WhiteoutThroughSymlinkRefused) {
  // Flattening deletes what whiteouts name: a symlinked parent must not aim that outside.
  {
    TarBuilder t(tar());
    t.symlink("s", outside);
    t.file("s/.wh.victim", "");
  }
  expect_refused(tar(), "s/.wh.victim", {.overlay_whiteouts = false});
  {
    TarBuilder t(tar());
    t.symlink("s", outside);
    t.file("s/.wh..wh..opq", "");
  }
  expect_refused(tar(), "leads outside", {.overlay_whiteouts = false});
  {
    TarBuilder t(tar());
    t.file(".wh...", "");
  }
  expect_refused(tar(), ".wh...", {.overlay_whiteouts = false});
  expect_outside_untouched();
}

TEST_F(Hostile, FileOverDirectoryReplacesIt) {
  {
    TarBuilder t(tar());
    t.dir("d");
    t.file("d/inner", "x");
    t.file("d", "now a file");
  }
  import_layer(tar(), target);
  EXPECT_EQ(read_file(target + "/d"), "now a file");
}

TEST_F(Hostile, MissingParentsAreCreated) {
  {
    TarBuilder t(tar());
    t.file("a/b/c/f", "deep");
    t.file("a/.wh.gone", "");
  }
  import_layer(tar(), target);
  EXPECT_EQ(read_file(target + "/a/b/c/f"), "deep");
  struct stat st;
  ASSERT_EQ(::lstat((target + "/a/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(Hostile, CorruptTarFailsCleanly) {
  testing::write_text(tar(), std::string(2048, '\x07'));
  EXPECT_THROW(import_layer(tar(), target), Error);
  expect_outside_untouched();
}

}  // namespace
}  // namespace cryo::fsimage

namespace cryo::fsimage {
namespace {

TEST(Flatten, OpaqueMarkerAfterEntriesOfItsLayer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  testing::TempDir tmp;
  std::string root = tmp.mkdir("root");
  {
    testing::TarBuilder t(tmp / "base.tar");
    t.file("dir2/p", "p");
    t.file("dir2/sub/q", "q");
    t.file("dir2/old/r", "r");
    t.file("keep", "k");
  }
  {
    // Entries before the marker, a sub dir that also exists below, and a new deep file.
    testing::TarBuilder t(tmp / "layer.tar");
    t.dir("dir2");
    t.file("dir2/-first", "listed before the marker");
    t.dir("dir2/sub");
    t.file("dir2/deep/new", "n");
    t.file("dir2/.wh..wh..opq", "");
    t.file(".wh.keep2", "");
  }
  import_layer(tmp / "base.tar", root, {.overlay_whiteouts = false});
  import_layer(tmp / "layer.tar", root, {.overlay_whiteouts = false});
  auto snap = testing::snapshot(root);
  std::vector<std::string> paths;
  for (auto& [p, n] : snap) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{"dir2", "dir2/-first", "dir2/deep", "dir2/deep/new",
                                             "dir2/sub", "keep"}));
}

}  // namespace
}  // namespace cryo::fsimage
