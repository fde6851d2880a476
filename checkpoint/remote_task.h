// Makes a running task execute system calls of cryo's choosing, as itself (ptrace), then puts it
// back exactly where it was. Used to give cryo a userfaultfd on a container process's memory
// (see write_tracker.h): only the task itself can create one.
//
// x86-64 only. The task is seized and interrupted; each call is made by pointing it at a
// `syscall` instruction of its vDSO and running it to the system call's exit. An interrupted
// system call of the task's own is restarted afterwards the way the kernel would have.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <linux/filter.h>

namespace cryo::checkpoint {

class RemoteTask {
 public:
  // Seizes and stops the main thread of process `tid`. nullopt (and the task left running as it was) when it cannot
  // be stopped within `timeout`, is traced by someone else, is in a job-control stop or has
  // nothing cryo can run a system call from. Call from the thread that will use the object:
  // ptrace binds a tracee to one tracer thread.
  static std::optional<RemoteTask> stop(pid_t tid, std::chrono::milliseconds timeout);
  RemoteTask(RemoteTask&&) noexcept;
  RemoteTask& operator=(RemoteTask&&) = delete;
  ~RemoteTask();  // restores the registers and lets the task go

  bool seccomp_allows(long nr, const std::array<uint64_t, 6>& args) const;
  // Runs one system call in the task; its result, or -errno. nullopt if the task did not get
  // there and back (it was killed, or stopped for something else): the object is then spent.
  std::optional<long> syscall(long nr, const std::array<uint64_t, 6>& args);

 private:
  RemoteTask(pid_t tid, const user_regs_struct& regs, uint64_t syscall_ip);
  bool wait_syscall_stop();

  pid_t tid_ = -1;
  user_regs_struct saved_{};
  uint64_t syscall_ip_ = 0;
  std::vector<std::vector<sock_filter>> filters_;  // the task's seccomp filters, most recent first
  int pending_signal_ = 0;  // a signal that arrived meanwhile, handed back at the end
  bool usable_ = true;
};

}  // namespace cryo::checkpoint
