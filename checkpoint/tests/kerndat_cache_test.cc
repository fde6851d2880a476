// The kernel-probe cache cryo keeps for CRIU where /run is not a tmpfs (root: runs the real criu).
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "base/file.h"
#include "checkpoint/criu.h"  // find_criu_binary
#include "checkpoint/kerndat_cache.h"

namespace cryo::checkpoint {
namespace {

namespace fs = std::filesystem;

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/cryo-kdat-test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno("mkdtemp");
    path = tmpl;
  }
  ~ScratchDir() { remove_tree(path); }
};

std::vector<std::string> cache_files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

TEST(KerndatCacheName, NamesBootAndBinary) {
  std::string a = kerndat_cache_name("boot-1", "1:2:3:4.5");
  EXPECT_EQ(a, kerndat_cache_name("boot-1", "1:2:3:4.5"));
  EXPECT_NE(a, kerndat_cache_name("boot-2", "1:2:3:4.5"));
  EXPECT_NE(a, kerndat_cache_name("boot-1", "1:2:3:4.6"));
  EXPECT_EQ(a.rfind("criu-kdat-boot-1-", 0), 0u) << a;
}

TEST(KerndatCache, OffWhenAskedOrWithoutCriu) {
  ScratchDir dir;
  ::setenv("CRYO_CRIU_KDAT_CACHE", "0", 1);
  KerndatMount off = prepare_kerndat_cache(find_criu_binary(), dir.path);
  ::unsetenv("CRYO_CRIU_KDAT_CACHE");
  EXPECT_FALSE(off);
  EXPECT_TRUE(cache_files(dir.path).empty());
  EXPECT_FALSE(prepare_kerndat_cache(dir.path + "/no-such-criu", dir.path));
}

class KerndatCacheRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (runs criu)";
  }
};

TEST_F(KerndatCacheRoot, GeneratedOnceThenReused) {
  ScratchDir dir;
  ::close(::open((dir.path + "/criu-kdat-old-boot-0000000000000000").c_str(), O_CREAT | O_WRONLY, 0600));
  KerndatMount m = prepare_kerndat_cache(find_criu_binary(), dir.path);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.target, "/run/criu.kdat");
  // The mount made a slave in criu's namespace is the one holding /run/criu.kdat.
  bool run_is_a_mount = read_file("/proc/self/mountinfo").find(" /run ") != std::string::npos;
  EXPECT_EQ(m.shared_root, run_is_a_mount ? "/run" : "/");
  EXPECT_EQ(fs::path(m.source).parent_path(), dir.path);
  EXPECT_GT(fs::file_size(m.source), 0u);
  EXPECT_EQ(cache_files(dir.path), std::vector<std::string>{fs::path(m.source).filename()}) << "stale cache kept";
  auto written = fs::last_write_time(m.source);
  KerndatMount again = prepare_kerndat_cache(find_criu_binary(), dir.path);
  EXPECT_EQ(again.source, m.source);
  EXPECT_EQ(fs::last_write_time(again.source), written) << "generated twice";
}

// The child sees the cache at /run/criu.kdat; the bind never shows in our mount table.
TEST_F(KerndatCacheRoot, BindIsPrivateToTheChild) {
  ScratchDir dir;
  KerndatMount m = prepare_kerndat_cache(find_criu_binary(), dir.path);
  ASSERT_TRUE(m);
  std::string cached = read_file(m.source);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    m.apply_in_child();
    std::string seen = read_file("/run/criu.kdat");
    char ok = seen == cached ? 'y' : 'n';
    ssize_t w = ::write(pipefd[1], &ok, 1);
    ::_exit(w == 1 ? 0 : 1);
  }
  ::close(pipefd[1]);
  char ok = 0;
  ASSERT_EQ(::read(pipefd[0], &ok, 1), 1);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(ok, 'y') << "the child did not see the cache at /run/criu.kdat";
  EXPECT_EQ(read_file("/proc/self/mountinfo").find("criu.kdat"), std::string::npos);
}

}  // namespace
}  // namespace cryo::checkpoint
