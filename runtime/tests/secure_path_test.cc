#include "runtime/rootfs/secure_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "base/error.h"

namespace cryo::runtime {
namespace {

namespace fs = std::filesystem;

TEST(CleanPath, Basics) {
  EXPECT_EQ(clean_path("/"), "/");
  EXPECT_EQ(clean_path(""), "/");
  EXPECT_EQ(clean_path("/a/b"), "/a/b");
  EXPECT_EQ(clean_path("a/b"), "/a/b");
  EXPECT_EQ(clean_path("/a//b/"), "/a/b");
  EXPECT_EQ(clean_path("/a/./b/."), "/a/b");
  EXPECT_EQ(clean_path("a/../b"), "/b");
}

TEST(CleanPath, NeverClimbsAboveRoot) {
  EXPECT_EQ(clean_path(".."), "/");
  EXPECT_EQ(clean_path("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(clean_path("a/../../.."), "/");
  EXPECT_EQ(clean_path("/x/y/../../../z"), "/z");
}

TEST(FdPath, NamesTheFd) { EXPECT_EQ(fd_path(7), "/proc/self/fd/7"); }

// A scratch directory tree, removed afterwards.
class InRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-secure-path-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    fs::create_directories(root_ / "etc");
    fs::create_directories(outside_);
    root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    ::close(root_fd_);
    fs::remove_all(base_);
  }
  // Where an fd opened by open_in_root points on the host.
  static std::string target_of(const UniqueFd& fd) { return fs::read_symlink(fd_path(fd.get())).string(); }

  fs::path base_, root_, outside_;
  int root_fd_ = -1;
};

TEST_F(InRoot, OpensExistingPaths) {
  UniqueFd fd = open_in_root(root_fd_, "/etc", Create::None);
  EXPECT_EQ(target_of(fd), (root_ / "etc").string());
  UniqueFd root = open_in_root(root_fd_, "/", Create::None);
  EXPECT_EQ(target_of(root), root_.string());
}

TEST_F(InRoot, MissingPathWithoutCreateThrows) {
  EXPECT_THROW(open_in_root(root_fd_, "/nope", Create::None), SysError);
}

TEST_F(InRoot, CreatesDirectoriesAndFiles) {
  UniqueFd d = open_in_root(root_fd_, "/a/b/c", Create::Dir);
  EXPECT_TRUE(fs::is_directory(root_ / "a/b/c"));
  UniqueFd f = open_in_root(root_fd_, "/x/y/file", Create::File);
  EXPECT_TRUE(fs::is_regular_file(root_ / "x/y/file"));
}

TEST_F(InRoot, DotDotStaysInside) {
  UniqueFd d = open_in_root(root_fd_, "/../../../made", Create::Dir);
  EXPECT_TRUE(fs::is_directory(root_ / "made"));
  EXPECT_FALSE(fs::exists(base_ / "made"));
}

TEST_F(InRoot, AbsoluteSymlinkIsResolvedInsideTheRoot) {
  // /etc/evil -> /../../outside/host-target: must land at <root>/outside/host-target.
  fs::create_symlink("/../../outside/host-target", root_ / "etc/evil");
  UniqueFd d = open_in_root(root_fd_, "/etc/evil", Create::Dir);
  EXPECT_TRUE(fs::is_directory(root_ / "outside/host-target"));
  EXPECT_FALSE(fs::exists(outside_ / "host-target"));
  EXPECT_EQ(target_of(d), (root_ / "outside/host-target").string());
}

TEST_F(InRoot, RelativeSymlinkCannotClimbOut) {
  fs::create_symlink("../../../outside", root_ / "etc/up");
  UniqueFd d = open_in_root(root_fd_, "/etc/up/leaf", Create::File);
  EXPECT_FALSE(fs::exists(outside_ / "leaf"));
  EXPECT_TRUE(fs::is_regular_file(root_ / "outside/leaf"));
}

TEST_F(InRoot, MagicLinksAreRefused) {
  fs::create_symlink("/proc/self/root", root_ / "etc/magic");
  fs::create_directories(root_ / "proc/self");
  // Inside the root, /proc/self/root is an ordinary missing path, never the host's magic link.
  EXPECT_THROW(open_in_root(root_fd_, "/etc/magic/etc", Create::None), SysError);
}

}  // namespace
}  // namespace cryo::runtime
