// The cgroup v2 device filter: the generated program's shape, and (as root, on this machine's
// cgroup2 mount) that an attached filter allows and denies opening device nodes as the rules say.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "base/file.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/cgroups/device_filter.h"

using namespace cryo::runtime;

namespace {

cryo::oci::DeviceRule rule(bool allow, const std::string& type, std::optional<int64_t> major,
                           std::optional<int64_t> minor, const std::string& access) {
  cryo::oci::DeviceRule r;
  r.allow = allow;
  r.type = type;
  r.major = major;
  r.minor = minor;
  r.access = access;
  return r;
}

// errno of opening `path` for reading and writing from a child placed in `cgroup_dir`, 0 if it opened.
int open_errno_in(const std::string& cgroup_dir, const char* path) {
  int pipefd[2];
  EXPECT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    int err = 0;
    try {
      cryo::write_existing_file(cgroup_dir + "/cgroup.procs", "0");
      int fd = ::open(path, O_RDWR);
      err = fd < 0 ? errno : 0;
    } catch (...) {
      err = -1;
    }
    (void)!::write(pipefd[1], &err, sizeof err);
    ::_exit(0);
  }
  int err = -2;
  ::close(pipefd[1]);
  (void)!::read(pipefd[0], &err, sizeof err);
  ::close(pipefd[0]);
  ::waitpid(pid, nullptr, 0);
  return err;
}

}  // namespace

TEST(DeviceFilter, ProgramChecksRulesLastFirstAndDeniesByDefault) {
  auto prog = device_filter_program({rule(false, "a", std::nullopt, std::nullopt, "rwm"),
                                     rule(true, "c", 1, 3, "rw")});
  // Prologue (6), the allow rule (type, 3 access, major, minor, verdict 2 = 8), then the deny-all
  // rule, which matches everything and so ends the program (2).
  ASSERT_EQ(prog.size(), 16u);
  EXPECT_EQ(prog[6].code, BPF_JMP | BPF_JNE | BPF_K);  // the c 1:3 rule is checked first
  EXPECT_EQ(prog[6].imm, BPF_DEVCG_DEV_CHAR);
  EXPECT_EQ(prog[6].off, 7);  // a mismatch skips the rest of its block
  EXPECT_EQ(prog[12].imm, 1);  // ... whose verdict is allow
  EXPECT_EQ(prog[14].imm, 0);  // deny-all verdict
  EXPECT_EQ(prog.back().code, BPF_JMP | BPF_EXIT);
  // Without a catch-all rule, no match denies.
  auto open_ended = device_filter_program({rule(true, "c", 1, 3, "rwm")});
  EXPECT_EQ(open_ended[open_ended.size() - 2].imm, 0);
}

TEST(DeviceFilter, AttachedFilterAllowsAndDenies) {
  const std::string unified = host_cgroup_mounts().unified;
  ASSERT_FALSE(unified.empty()) << "this test needs a cgroup2 mount";
  std::string dir = unified + "/cryo-devfilter-test-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  attach_device_filter(dir, {rule(false, "a", std::nullopt, std::nullopt, "rwm"), rule(true, "c", 1, 3, "rwm"),
                             rule(true, "c", 1, 5, "r")});
  EXPECT_EQ(open_errno_in(dir, "/dev/null"), 0);       // allowed
  EXPECT_EQ(open_errno_in(dir, "/dev/zero"), EPERM);   // read allowed, but not write
  EXPECT_EQ(open_errno_in(dir, "/dev/full"), EPERM);   // no rule
  // A second attach replaces the first filter (update).
  attach_device_filter(dir, {rule(true, "a", std::nullopt, std::nullopt, "rwm")});
  EXPECT_EQ(open_errno_in(dir, "/dev/full"), 0);
  remove_cgroup_dir(*linux_syscalls(), dir);
}
