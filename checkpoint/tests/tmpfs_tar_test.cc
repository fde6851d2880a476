// cryo's `tar` for CRIU's tmpfs images must read and write what GNU tar does, with CRIU's exact
// arguments: archives made by one extract with the other, keeping owners, modes, device nodes,
// symlinks, hard links and sparse files. Runs as root (mknod, chown).
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCreate = {"--create",        "--gzip",        "--no-unquote",
                                          "--no-wildcards",  "--one-file-system", "--check-links",
                                          "--preserve-permissions", "--sparse", "--numeric-owner",
                                          "--directory",     "/proc/self/fd/0", "."};

// Runs `tar_binary args` with stdin from `in` and stdout to `out` (paths; a directory is opened
// O_RDONLY, as CRIU passes the tmpfs root); returns the exit status.
int run_tar(const std::string& tar_binary, const std::vector<std::string>& args, const std::string& in,
            const std::string& out) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> argv = {const_cast<char*>(tar_binary.c_str())};
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, tar_binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<std::string> extract_args(const std::string& dir) {
  return {"--extract", "--gzip", "--no-unquote", "--no-wildcards", "--directory", dir};
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

std::string read(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class TmpfsTarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-tmpfs-tar.XXXXXX";
    dir = mkdtemp(tmpl);
    src = dir / "src";
    fs::create_directories(src / "sub");
    write(src / "sub/file", "owned\n");
    ASSERT_EQ(::chown((src / "sub/file").c_str(), 123, 456), 0);
    ASSERT_EQ(::chmod((src / "sub/file").c_str(), 0640), 0);
    ASSERT_EQ(::link((src / "sub/file").c_str(), (src / "hardlink").c_str()), 0);
    fs::create_symlink("/proc/self/fd", src / "fd");
    ASSERT_EQ(::mknod((src / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    fs::create_directory(src / "sticky");
    ASSERT_EQ(::chmod((src / "sticky").c_str(), 01777), 0);
    {
      std::ofstream sparse(src / "sparse");
      sparse.seekp(1 << 20);
      sparse << "end";
    }
  }
  void TearDown() override { fs::remove_all(dir); }

  // Everything SetUp made, checked in an extracted copy.
  void expect_same_tree(const fs::path& copy) {
    struct stat st;
    ASSERT_EQ(::lstat((copy / "sub/file").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 123u);
    EXPECT_EQ(st.st_gid, 456u);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(read(copy / "sub/file"), "owned\n");
    struct stat link_st;
    ASSERT_EQ(::lstat((copy / "hardlink").c_str(), &link_st), 0);
    EXPECT_EQ(link_st.st_ino, st.st_ino) << "the hard link became a copy";
    EXPECT_EQ(fs::read_symlink(copy / "fd"), "/proc/self/fd");
    ASSERT_EQ(::lstat((copy / "null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    ASSERT_EQ(::lstat((copy / "sticky").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 01777u);
    std::string sparse = read(copy / "sparse");
    ASSERT_EQ(sparse.size(), (1u << 20) + 3);
    EXPECT_EQ(sparse.substr(sparse.size() - 3), "end");
    EXPECT_EQ(sparse.find_first_not_of('\0'), 1u << 20);
  }

  fs::path dir, src;
};

TEST_F(TmpfsTarTest, OursCreatesWhatGnuTarExtracts) {
  ASSERT_EQ(run_tar(CRYO_TMPFS_TAR, kCreate, src, dir / "ours.tgz"), 0);
  fs::create_directory(dir / "out");
  ASSERT_EQ(run_tar("/usr/bin/tar", extract_args(dir / "out"), dir / "ours.tgz", "/dev/null"), 0);
  expect_same_tree(dir / "out");
}

TEST_F(TmpfsTarTest, OursExtractsWhatGnuTarCreates) {
  ASSERT_EQ(run_tar("/usr/bin/tar", kCreate, src, dir / "gnu.tgz"), 0);
  fs::create_directory(dir / "out");
  ASSERT_EQ(run_tar(CRYO_TMPFS_TAR, extract_args(dir / "out"), dir / "gnu.tgz", "/dev/null"), 0);
  expect_same_tree(dir / "out");
}

TEST_F(TmpfsTarTest, RefusesEntriesThatLeaveTheDirectory) {
  // GNU tar keeps a leading "../" with --absolute-names; our extractor must not follow it.
  fs::create_directories(dir / "a/b");
  write(dir / "a/escape", "x");
  ASSERT_EQ(run_tar("/usr/bin/tar", {"--create", "--gzip", "--absolute-names", "--directory", dir / "a/b", "../escape"},
                    "/dev/null", dir / "evil.tgz"),
            0);
  fs::create_directories(dir / "out/inner");
  EXPECT_NE(run_tar(CRYO_TMPFS_TAR, extract_args(dir / "out/inner"), dir / "evil.tgz", "/dev/null"), 0);
  EXPECT_FALSE(fs::exists(dir / "out/escape"));
}

TEST_F(TmpfsTarTest, OtherUsesGoToTheNextTarOnPath) {
  ASSERT_EQ(run_tar(CRYO_TMPFS_TAR, {"--version"}, "/dev/null", dir / "version"), 0);
  EXPECT_NE(read(dir / "version").find("GNU tar"), std::string::npos) << read(dir / "version");
}

}  // namespace
