#include "checkpoint/seccomp_eval.h"

#include <linux/audit.h>

#include <cstddef>

#include <gtest/gtest.h>

namespace cryo::checkpoint {
namespace {

seccomp_data call(int nr, uint64_t arg0 = 0) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = AUDIT_ARCH_X86_64;
  d.args[0] = arg0;
  return d;
}

// Allows everything but `nr`, which gets `action`; other architectures are killed.
std::vector<sock_filter> deny_one(int nr, uint32_t action) {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, action),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

TEST(SeccompEval, ReturnsTheActionForTheCall) {
  auto filter = deny_one(323, SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run_seccomp_filter(filter, call(323)), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run_seccomp_filter(filter, call(3)), SECCOMP_RET_ALLOW);
  seccomp_data other = call(3);
  other.arch = AUDIT_ARCH_I386;
  EXPECT_EQ(run_seccomp_filter(filter, other), SECCOMP_RET_KILL_PROCESS);
}

TEST(SeccompEval, ArgumentChecksWithMaskAndScratchMemory) {
  // Allows the call only when arg0 has no bit of 0x1 set, through the scratch memory and X.
  std::vector<sock_filter> filter = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_STMT(BPF_ST, 3),
      BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, 3),
      BPF_STMT(BPF_MISC | BPF_TXA, 0),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 1),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  EXPECT_EQ(run_seccomp_filter(filter, call(0, 2)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run_seccomp_filter(filter, call(0, 3)), SECCOMP_RET_TRAP);
}

TEST(SeccompEval, MalformedProgramsAreTheWorstCase) {
  std::vector<sock_filter> runs_off = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  EXPECT_EQ(run_seccomp_filter(runs_off, call(0)), SECCOMP_RET_KILL_PROCESS);
  std::vector<sock_filter> reads_past = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4096), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  EXPECT_EQ(run_seccomp_filter(reads_past, call(0)), SECCOMP_RET_KILL_PROCESS);
  std::vector<sock_filter> jumps_out = {BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  EXPECT_EQ(run_seccomp_filter(jumps_out, call(0)), SECCOMP_RET_KILL_PROCESS);
}

TEST(SeccompEval, EveryStackedFilterMustAllow) {
  auto allow_all = deny_one(9999, SECCOMP_RET_KILL_PROCESS);
  auto log_close = deny_one(3, SECCOMP_RET_LOG);
  auto errno_uffd = deny_one(323, SECCOMP_RET_ERRNO | 38);
  EXPECT_TRUE(seccomp_allows({allow_all, log_close}, call(3)));
  EXPECT_FALSE(seccomp_allows({allow_all, errno_uffd}, call(323)));
  EXPECT_TRUE(seccomp_allows({}, call(323)));
  auto notify = deny_one(323, SECCOMP_RET_USER_NOTIF);
  EXPECT_FALSE(seccomp_allows({notify}, call(323)));
}

}  // namespace
}  // namespace cryo::checkpoint
