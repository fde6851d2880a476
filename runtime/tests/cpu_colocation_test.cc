#include "runtime/cpu_colocation.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace cryo::runtime {
namespace {

struct Child {
  pid_t pid = ::fork();
  Child() {
    if (pid == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~Child() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

int allowed_cpus(pid_t pid) {
  cpu_set_t mask;
  return ::sched_getaffinity(pid, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : -1;
}

TEST(CpuColocation, PinsTasksAndHelpersToOneCpuThenPutsTasksBack) {
  Child task, helper;
  int before = allowed_cpus(task.pid);
  ASSERT_GT(before, 0);
  {
    CpuColocation colocation({task.pid}, {helper.pid});
    ASSERT_TRUE(colocation.active());
    EXPECT_EQ(allowed_cpus(task.pid), 1);
    EXPECT_EQ(allowed_cpus(helper.pid), 1);
    cpu_set_t mask;
    ASSERT_EQ(::sched_getaffinity(task.pid, sizeof mask, &mask), 0);
    EXPECT_TRUE(CPU_ISSET(colocation.cpu(), &mask));
  }
  EXPECT_EQ(allowed_cpus(task.pid), before);
}

TEST(CpuColocation, SavedMasksCanBeRestoredByAnotherProcess) {
  Child task;
  int before = allowed_cpus(task.pid);
  std::string saved;
  {
    CpuColocation colocation({task.pid}, {});
    ASSERT_TRUE(colocation.active());
    saved = colocation.serialize();
    // As if cryo died here: the masks stay narrowed.
    EXPECT_EQ(saved.rfind(std::to_string(task.pid) + " ", 0), 0u) << saved;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(colocation.cpu(), &one);
    colocation.release();
    ASSERT_EQ(::sched_setaffinity(task.pid, sizeof one, &one), 0);
  }
  ASSERT_EQ(allowed_cpus(task.pid), 1);
  restore_affinities(saved);
  EXPECT_EQ(allowed_cpus(task.pid), before);
  restore_affinities("garbage;0 ;-5 1;");  // ignored, no crash
}

TEST(CpuColocation, NothingToPinIsInactive) {
  CpuColocation colocation({}, {});
  EXPECT_FALSE(colocation.active());
}

}  // namespace
}  // namespace cryo::runtime
