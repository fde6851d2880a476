// Write tracking and pre-copy on a real process: a forked child that keeps writing its memory.
#include "checkpoint/precopy.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "checkpoint/remote_task.h"

namespace cryo::checkpoint {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kPages = 4096;  // 16 MiB

// A child holding kPages pages of distinct content that rewrites one page per loop, forever.
// `ready` gets one byte once the memory is filled; its address arrives through the same pipe.
struct Writer {
  pid_t pid = -1;
  uint64_t base = 0;
  ~Writer() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

void run_writer(int out, bool with_seccomp_denying_userfaultfd) {
  auto* mem = static_cast<char*>(::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  for (size_t i = 0; i < kPages; ++i) std::memset(mem + i * kPage, static_cast<int>(i % 251) + 1, kPage);
  if (with_seccomp_denying_userfaultfd) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 323, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
  }
  uint64_t addr = reinterpret_cast<uint64_t>(mem);
  (void)!::write(out, &addr, sizeof addr);
  for (uint64_t n = 0;; ++n) {
    size_t page = (n * 7919) % kPages;
    std::memcpy(mem + page * kPage, &n, sizeof n);
    ::usleep(100);
  }
}

Writer start_writer(bool seccomp = false) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  Writer w;
  w.pid = ::fork();
  if (w.pid == 0) {
    ::close(p[0]);
    run_writer(p[1], seccomp);
    ::_exit(0);
  }
  ::close(p[1]);
  EXPECT_EQ(::read(p[0], &w.base, sizeof w.base), static_cast<ssize_t>(sizeof w.base));
  ::close(p[0]);
  return w;
}

std::string read_child(pid_t pid, uint64_t addr, size_t len) {
  std::string out(len, '\0');
  iovec local{out.data(), len}, remote{reinterpret_cast<void*>(addr), len};
  EXPECT_EQ(::process_vm_readv(pid, &local, 1, &remote, 1, 0), static_cast<ssize_t>(len));
  return out;
}

struct Buffers {
  std::vector<std::unique_ptr<char[]>> held;
  MemoryPrecopy::Allocate allocate() {
    return [this](size_t bytes, size_t& got) {
      got = std::min(bytes, size_t(8) << 20);
      held.emplace_back(new char[got]);
      return held.back().get();
    };
  }
};

TEST(Precopy, ShadowMatchesTheMemoryOfAFrozenWriterAfterSettling) {
  Writer w = start_writer();
  Buffers buffers;
  MemoryPrecopy precopy({{w.pid, 1}}, buffers.allocate());
  ASSERT_EQ(precopy.tracked_tasks(), 1u);
  EXPECT_GE(precopy.copied_pages(), kPages);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the writer goes on
  ASSERT_EQ(::kill(w.pid, SIGSTOP), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(w.pid, &status, WUNTRACED), w.pid);
  precopy.settle();
  EXPECT_GT(precopy.recopied_pages(), 0u);
  EXPECT_LT(precopy.recopied_pages(), kPages);  // only what was written, not everything again
  // Every held page of the writer's buffer is what the writer's memory holds now.
  size_t checked = 0;
  for (uint64_t at = w.base; at < w.base + kPages * kPage;) {
    auto [data, pages] = precopy.shadow().find(1, at, (w.base + kPages * kPage - at) / kPage);
    if (data) {
      ASSERT_EQ(std::memcmp(data, read_child(w.pid, at, pages * kPage).data(), pages * kPage), 0)
          << "shadow differs from memory at " << std::hex << at;
      checked += pages;
    }
    at += pages * kPage;
  }
  EXPECT_EQ(checked, kPages);
}

TEST(Precopy, WithoutSettlingTheShadowIsStale) {
  // The same flow without settle(): the writer's later writes are missing, which is what settle()
  // is for (and shows that the test above can fail).
  Writer w = start_writer();
  Buffers buffers;
  MemoryPrecopy precopy({{w.pid, 1}}, buffers.allocate());
  ASSERT_EQ(precopy.tracked_tasks(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(w.pid, SIGSTOP);
  ::waitpid(w.pid, nullptr, WUNTRACED);
  auto [data, pages] = precopy.shadow().find(1, w.base, kPages);
  ASSERT_NE(data, nullptr);
  EXPECT_NE(std::memcmp(data, read_child(w.pid, w.base, pages * kPage).data(), pages * kPage), 0);
}

TEST(Precopy, TheTrackedProcessRunsOnUnharmed) {
  Writer w = start_writer();
  Buffers buffers;
  {
    MemoryPrecopy precopy({{w.pid, 1}}, buffers.allocate());
    ASSERT_EQ(precopy.tracked_tasks(), 1u);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Still running, its memory still its own: no fd left behind, not stopped, not dead.
  EXPECT_EQ(::waitpid(w.pid, nullptr, WNOHANG), 0);
  char state = 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(w.pid) + "/stat").c_str(), "r");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fscanf(f, "%*d %*s %c", &state), 1);
  std::fclose(f);
  EXPECT_TRUE(state == 'R' || state == 'S') << state;
  // No userfaultfd left among its descriptors, and no mapping still registered.
  for (int fd = 0; fd < 256; ++fd) {
    char target[256] = {};
    std::string link = "/proc/" + std::to_string(w.pid) + "/fd/" + std::to_string(fd);
    if (::readlink(link.c_str(), target, sizeof target - 1) > 0) {
      EXPECT_EQ(std::string(target).find("userfaultfd"), std::string::npos);
    }
  }
  std::ifstream smaps("/proc/" + std::to_string(w.pid) + "/smaps");
  for (std::string line; std::getline(smaps, line);)
    if (line.rfind("VmFlags:", 0) == 0) {
      EXPECT_EQ(line.find(" uw"), std::string::npos) << line;
    }
}

TEST(Precopy, AProcessWhoseSeccompFilterWouldKillItIsLeftToCriu) {
  Writer w = start_writer(/*seccomp=*/true);
  Buffers buffers;
  MemoryPrecopy precopy({{w.pid, 1}}, buffers.allocate());
  EXPECT_EQ(precopy.tracked_tasks(), 0u);
  EXPECT_EQ(precopy.shadow().pages(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(::waitpid(w.pid, nullptr, WNOHANG), 0) << "the writer died";
}

TEST(WriteTracker, TracksPrivateMappingsButNotSharedOrSpecialOnes) {
  PageRange r;
  EXPECT_TRUE(trackable_mapping("55d0c000-55d2d000 rw-p 00000000 00:00 0          [heap]", r));
  EXPECT_EQ(r, (PageRange{0x55d0c000, 0x55d2d000}));
  EXPECT_TRUE(trackable_mapping("7f0000000000-7f0000001000 r--p 00001000 08:01 42   /lib/libc.so.6", r));
  EXPECT_FALSE(trackable_mapping("7f0000000000-7f0000001000 rw-s 00000000 00:05 7    /dev/zero (deleted)", r));
  EXPECT_FALSE(trackable_mapping("7ffd1000-7ffd3000 r-xp 00000000 00:00 0          [vdso]", r));
  EXPECT_FALSE(trackable_mapping("7ffd0000-7ffd1000 r--p 00000000 00:00 0          [vvar]", r));
  EXPECT_FALSE(trackable_mapping("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]", r));
  EXPECT_FALSE(trackable_mapping("garbage", r));
}

TEST(RemoteTask, RunsASystemCallAsTheTaskAndPutsItBack) {
  Writer w = start_writer();
  auto task = RemoteTask::stop(w.pid, std::chrono::milliseconds(500));
  ASSERT_TRUE(task.has_value());
  auto pid = task->syscall(39, {0, 0, 0, 0, 0, 0});  // getpid
  ASSERT_TRUE(pid.has_value());
  EXPECT_EQ(*pid, w.pid);
  task.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(::waitpid(w.pid, nullptr, WNOHANG), 0);
}

TEST(RemoteTask, AnInterruptedSleepIsRestartedNotCutShort) {
  // The child sleeps 300 ms in one nanosleep and reports how it returned and how long it took.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    timespec t{0, 300'000'000}, start{}, end{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    long r = ::nanosleep(&t, nullptr) == 0 ? 0 : errno;
    ::clock_gettime(CLOCK_MONOTONIC, &end);
    long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1'000'000;
    long out[2] = {r, ms};
    (void)!::write(p[1], out, sizeof out);
    ::_exit(0);
  }
  ::close(p[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    auto task = RemoteTask::stop(pid, std::chrono::milliseconds(500));
    ASSERT_TRUE(task.has_value());
    ASSERT_TRUE(task->syscall(39, {0, 0, 0, 0, 0, 0}).has_value());
  }
  long out[2] = {-1, -1};
  ASSERT_EQ(::read(p[0], out, sizeof out), static_cast<ssize_t>(sizeof out));
  ::close(p[0]);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(out[0], 0) << "nanosleep failed with errno " << out[0];
  EXPECT_GE(out[1], 290) << "the sleep was cut short";
}

TEST(RemoteTask, ATaskInUninterruptibleSleepIsStoppedOnItsWayOut) {
  // A vfork parent waits uninterruptibly (state D) until its child exits, here after 100 ms.
  pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) {
      if (::vfork() == 0) {
        ::usleep(100'000);
        ::_exit(0);
      }
      ::wait(nullptr);
    }
  }
  auto state = [pid] {
    char c = 0;
    if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r")) {
      if (std::fscanf(f, "%*d %*s %c", &c) != 1) c = 0;
      std::fclose(f);
    }
    return c;
  };
  for (int i = 0; i < 200 && state() != 'D'; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(state(), 'D');
  {
    auto task = RemoteTask::stop(pid, std::chrono::milliseconds(500));
    ASSERT_TRUE(task.has_value());
    auto got = task->syscall(39, {0, 0, 0, 0, 0, 0});
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, pid);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(RemoteTask, AStoppedTaskIsLeftAlone) {
  Writer w = start_writer();
  ASSERT_EQ(::kill(w.pid, SIGSTOP), 0);
  ASSERT_EQ(::waitpid(w.pid, nullptr, WUNTRACED), w.pid);
  EXPECT_FALSE(RemoteTask::stop(w.pid, std::chrono::milliseconds(100)).has_value());
  FILE* f = std::fopen(("/proc/" + std::to_string(w.pid) + "/stat").c_str(), "r");
  ASSERT_NE(f, nullptr);
  char state = 0;
  ASSERT_EQ(std::fscanf(f, "%*d %*s %c", &state), 1);
  std::fclose(f);
  EXPECT_EQ(state, 'T');  // still stopped, not traced by cryo
}

}  // namespace
}  // namespace cryo::checkpoint
