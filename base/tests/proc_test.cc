#include "base/proc.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace cryo {
namespace {

TEST(Proc, StateOfARunningTask) { EXPECT_EQ(proc_state(::getpid()), 'R'); }

TEST(Proc, StatusFieldsWithoutTheirBlanks) {
  EXPECT_EQ(proc_status_field(::getpid(), "Pid"), std::to_string(::getpid()));
  EXPECT_EQ(proc_status_field(::getpid(), "PPid"), std::to_string(::getppid()));
  EXPECT_EQ(proc_status_field(::getpid(), "Name"), std::string("base_tests").substr(0, 15));
  EXPECT_FALSE(proc_status_field(::getpid(), "NoSuchField").has_value());
  EXPECT_FALSE(proc_status_field(::getpid(), "id").has_value());  // "Pid" is not "id"
}

TEST(Proc, AGoneTaskHasNothing) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_EQ(proc_state(child), 0);
  EXPECT_FALSE(proc_status_field(child, "Pid").has_value());
}

}  // namespace
}  // namespace cryo
