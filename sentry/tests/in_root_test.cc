// openat2-confined lookups: symlinks and `..` inside the tree must not reach outside it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/file.h"
#include "sentry/in_root.h"

using namespace cryo;
using namespace cryo::sentry;

class InRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-inroot-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/root";
    make_dirs(root_ + "/etc");
    make_dirs(root_ + "/workspace");
    write_file_atomic(root_ + "/etc/inside", "inside");
    // A "host" file next to the root, that escapes would reach.
    write_file_atomic(base_ + "/host-secret", "host");
    make_dirs(base_ + "/host-dir");
    write_file_atomic(base_ + "/host-dir/x", "host");
    root_fd_ = open_or_throw(root_, O_PATH | O_DIRECTORY);
  }
  void TearDown() override { remove_tree(base_); }

  std::string read(const std::string& path) { return read_fd(open_in_root(root_fd_.get(), path, O_RDONLY).get()); }

  std::string base_, root_;
  UniqueFd root_fd_;
};

TEST_F(InRoot, ReadsInsideFiles) { EXPECT_EQ(read("/etc/inside"), "inside"); }

TEST_F(InRoot, DotDotStopsAtTheRoot) {
  EXPECT_EQ(read("/../../etc/inside"), "inside");
  EXPECT_THROW(read("/../host-secret"), SysError);
}

TEST_F(InRoot, AbsoluteSymlinksAreTakenFromTheRoot) {
  ASSERT_EQ(::symlink("/etc/../../../host-dir", (root_ + "/workspace/evil").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/inside", (root_ + "/workspace/good").c_str()), 0);
  EXPECT_EQ(read("/workspace/good"), "inside");
  try {
    read("/workspace/evil/x");
    FAIL() << "escaped the root";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), ENOENT);
  }
}

TEST_F(InRoot, RelativeSymlinksCannotClimbOut) {
  ASSERT_EQ(::symlink("../../host-secret", (root_ + "/workspace/up").c_str()), 0);
  EXPECT_THROW(read("/workspace/up"), SysError);
}

TEST_F(InRoot, ProcMagicLinksAreRefused) {
  make_dirs(root_ + "/proc");
  ASSERT_EQ(::symlink("/proc/self/root/etc", (root_ + "/workspace/magic").c_str()), 0);
  // In-root, /proc/self is the tree's own (empty) /proc: nothing to follow.
  EXPECT_THROW(read("/workspace/magic/hostname"), SysError);
}

TEST_F(InRoot, MakeDirsCreatesInsideOnly) {
  make_dirs(root_ + "/host-dir");  // the symlink's in-root target
  ASSERT_EQ(::symlink("/../../host-dir", (root_ + "/workspace/link").c_str()), 0);
  make_dirs_in_root(root_fd_.get(), "/workspace/link/new/deeper");
  EXPECT_TRUE(path_exists(root_ + "/host-dir/new/deeper"));
  EXPECT_FALSE(path_exists(base_ + "/host-dir/new"));
}

TEST_F(InRoot, ParentOfPathNeverFollowsTheLastComponent) {
  ASSERT_EQ(::symlink("/etc", (root_ + "/workspace/etc-link").c_str()), 0);
  auto [parent, name] = open_parent_in_root(root_fd_.get(), "/workspace/etc-link");
  EXPECT_EQ(name, "etc-link");
  struct stat st;
  ASSERT_EQ(::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_THROW(open_parent_in_root(root_fd_.get(), "/"), Error);
}

TEST(NormalizePath, CollapsesSlashesAndDots) {
  EXPECT_EQ(normalize_path("a//b/./c/"), "/a/b/c");
  EXPECT_EQ(normalize_path(""), "/");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("/x/../y"), "/x/../y");
}
