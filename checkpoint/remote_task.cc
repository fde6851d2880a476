#include "checkpoint/remote_task.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "base/fd.h"
#include "base/proc.h"
#include "checkpoint/seccomp_eval.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

namespace cryo::checkpoint {
namespace {

#if defined(__x86_64__)
constexpr long kRestartSyscall = 219;  // __NR_restart_syscall
// The kernel's private "restart me" codes (include/linux/errno.h).
constexpr long kERestartSys = 512, kERestartNoIntr = 513, kERestartNoHand = 514, kERestartBlock = 516;
#endif

long ptrace_call(int request, pid_t tid, void* addr = nullptr, void* data = nullptr) {
  return ::ptrace(static_cast<__ptrace_request>(request), tid, addr, data);
}

// Waits for `tid` to change state; false when it did not within `timeout` or is gone.
bool wait_for(pid_t tid, int& status, std::chrono::microseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    pid_t r = ::waitpid(tid, &status, __WALL | WNOHANG);
    if (r == tid) return WIFSTOPPED(status);
    if (r < 0 && errno != EINTR) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

std::vector<std::vector<sock_filter>> read_filters(pid_t tid) {
  std::vector<std::vector<sock_filter>> out;
  for (long i = 0;; ++i) {
    long n = ptrace_call(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(i), nullptr);
    if (n <= 0) break;
    std::vector<sock_filter> program(static_cast<size_t>(n));
    if (ptrace_call(PTRACE_SECCOMP_GET_FILTER, tid, reinterpret_cast<void*>(i), program.data()) != n) break;
    out.push_back(std::move(program));
  }
  return out;
}

// A task stopped inside a restartable sequence's critical section would have been sent to the
// sequence's abort handler on its way back to user space; running a system call elsewhere first
// would make the kernel forget the section instead (it clears rseq_cs when the address is not in
// it). So cryo moves the task to the abort handler itself, as the kernel would have.
void abort_rseq_section(pid_t tid, user_regs_struct& regs) {
  __ptrace_rseq_configuration conf{};
  if (ptrace_call(PTRACE_GET_RSEQ_CONFIGURATION, tid, reinterpret_cast<void*>(sizeof conf), &conf) !=
          static_cast<long>(sizeof conf) ||
      conf.rseq_abi_pointer == 0)
    return;
  UniqueFd mem(::open(("/proc/" + std::to_string(tid) + "/mem").c_str(), O_RDWR | O_CLOEXEC));
  uint64_t cs_pointer = 0;
  // struct rseq: u32 cpu_id_start, u32 cpu_id, u64 rseq_cs.
  if (!mem || ::pread(mem.get(), &cs_pointer, 8, static_cast<off_t>(conf.rseq_abi_pointer + 8)) != 8 || !cs_pointer)
    return;
  struct {
    uint32_t version, flags;
    uint64_t start_ip, post_commit_offset, abort_ip;
  } cs{};
  if (::pread(mem.get(), &cs, sizeof cs, static_cast<off_t>(cs_pointer)) != static_cast<ssize_t>(sizeof cs)) return;
  if (regs.rip < cs.start_ip || regs.rip - cs.start_ip >= cs.post_commit_offset) return;
  uint64_t zero = 0;
  if (::pwrite(mem.get(), &zero, 8, static_cast<off_t>(conf.rseq_abi_pointer + 8)) == 8) regs.rip = cs.abort_ip;
}

int seccomp_mode(pid_t tid) {
  auto mode = proc_status_field(tid, "Seccomp");
  return mode ? std::atoi(mode->c_str()) : -1;
}

// Where the task's vDSO has a `syscall` instruction (0f 05); 0 if none was found.
uint64_t find_syscall_instruction(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  uint64_t start = 0, end = 0;
  while (std::getline(maps, line)) {
    if (line.find("[vdso]") == std::string::npos) continue;
    std::sscanf(line.c_str(), "%lx-%lx", &start, &end);
    break;
  }
  if (start == 0 || end <= start || end - start > (1u << 20)) return 0;
  UniqueFd mem(::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem) return 0;
  std::string code(end - start, '\0');
  if (::pread(mem.get(), code.data(), code.size(), static_cast<off_t>(start)) != static_cast<ssize_t>(code.size()))
    return 0;
  size_t at = code.find("\x0f\x05", 0, 2);
  return at == std::string::npos ? 0 : start + at;
}

}  // namespace

#if defined(__x86_64__)

std::optional<RemoteTask> RemoteTask::stop(pid_t tid, std::chrono::milliseconds timeout) {
  char state = proc_state(tid);
  // Running or sleeping, also uninterruptibly (writing a file, for a moment): it stops on its way
  // back to user space. Not stopped, traced, dying or a zombie.
  if (state != 'R' && state != 'S' && state != 'D') return std::nullopt;
  int mode = seccomp_mode(tid);
  if (mode != 0 && mode != 2) return std::nullopt;  // strict mode: nothing but read/write/exit
  uint64_t syscall_ip = find_syscall_instruction(tid);
  if (!syscall_ip) return std::nullopt;
  if (ptrace_call(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0)
    return std::nullopt;
  int status = 0;
  bool stopped = ptrace_call(PTRACE_INTERRUPT, tid) == 0 && wait_for(tid, status, timeout);
  // Only the stop PTRACE_INTERRUPT makes: not a job-control stop, not a signal on its way.
  if (!stopped || status >> 8 != (SIGTRAP | (PTRACE_EVENT_STOP << 8))) {
    if (stopped) {
      int sig = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
      ptrace_call(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
    } else {
      // Not stopped: a tracee can only be detached in a stop. Wait a little for the interrupt's;
      // failing that, the tracer thread's exit lets it go (see MemoryPrecopy).
      if (wait_for(tid, status, std::chrono::milliseconds(50))) ptrace_call(PTRACE_DETACH, tid);
    }
    return std::nullopt;
  }
  user_regs_struct regs{};
  if (ptrace_call(PTRACE_GETREGS, tid, nullptr, &regs) != 0) {
    ptrace_call(PTRACE_DETACH, tid);
    return std::nullopt;
  }
  RemoteTask task(tid, regs, syscall_ip);
  if (mode == 2) {
    task.filters_ = read_filters(tid);
    if (task.filters_.empty()) task.usable_ = false;  // filters cryo cannot read: assume the worst
  }
  return task;
}

RemoteTask::RemoteTask(pid_t tid, const user_regs_struct& regs, uint64_t syscall_ip)
    : tid_(tid), saved_(regs), syscall_ip_(syscall_ip) {
  abort_rseq_section(tid, saved_);
  // The task may have been stopped inside a system call that it must redo; put it where the
  // kernel would have on its way back to user space, so whatever runs next starts clean.
  if (static_cast<long>(saved_.orig_rax) >= 0) {
    switch (-static_cast<long>(saved_.rax)) {
      case kERestartSys:
      case kERestartNoIntr:
      case kERestartNoHand:
        saved_.rax = saved_.orig_rax;
        saved_.rip -= 2;
        break;
      case kERestartBlock:
        saved_.rax = kRestartSyscall;
        saved_.rip -= 2;
        break;
    }
  }
  saved_.orig_rax = static_cast<uint64_t>(-1);
}

RemoteTask::RemoteTask(RemoteTask&& o) noexcept
    : tid_(std::exchange(o.tid_, -1)), saved_(o.saved_), syscall_ip_(o.syscall_ip_),
      filters_(std::move(o.filters_)), pending_signal_(o.pending_signal_), usable_(o.usable_) {}

RemoteTask::~RemoteTask() {
  if (tid_ < 0) return;
  ptrace_call(PTRACE_SETREGS, tid_, nullptr, &saved_);
  ptrace_call(PTRACE_DETACH, tid_);
  // A signal that arrived meanwhile was held back; it is sent again now that the task is itself.
  if (pending_signal_) ::syscall(SYS_tgkill, tid_, tid_, pending_signal_);
}

bool RemoteTask::seccomp_allows(long nr, const std::array<uint64_t, 6>& args) const {
  if (!usable_) return false;
  if (filters_.empty()) return true;
  seccomp_data call{};
  call.nr = static_cast<int>(nr);
  call.arch = AUDIT_ARCH_X86_64;
  call.instruction_pointer = syscall_ip_;
  for (int i = 0; i < 6; ++i) call.args[i] = args[static_cast<size_t>(i)];
  return checkpoint::seccomp_allows(filters_, call);
}

bool RemoteTask::wait_syscall_stop() {
  for (int tries = 0; tries < 8; ++tries) {
    int status = 0;
    if (!wait_for(tid_, status, std::chrono::seconds(2))) return false;
    if (WSTOPSIG(status) == (SIGTRAP | 0x80)) return true;
    if ((status >> 16) != 0) return false;  // an event stop (job control, exit): give up
    // A signal arrived: keep it for later and go on.
    if (!pending_signal_) pending_signal_ = WSTOPSIG(status);
    else ::syscall(SYS_tgkill, tid_, tid_, WSTOPSIG(status));
    if (ptrace_call(PTRACE_SYSCALL, tid_) != 0) return false;
  }
  return false;
}

std::optional<long> RemoteTask::syscall(long nr, const std::array<uint64_t, 6>& args) {
  if (!usable_ || tid_ < 0) return std::nullopt;
  user_regs_struct regs = saved_;
  regs.rip = syscall_ip_;
  regs.rax = static_cast<uint64_t>(nr);
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rdi = args[0];
  regs.rsi = args[1];
  regs.rdx = args[2];
  regs.r10 = args[3];
  regs.r8 = args[4];
  regs.r9 = args[5];
  usable_ = false;
  if (ptrace_call(PTRACE_SETREGS, tid_, nullptr, &regs) != 0) return std::nullopt;
  // To the system call's entry, then to its exit.
  if (ptrace_call(PTRACE_SYSCALL, tid_) != 0 || !wait_syscall_stop()) return std::nullopt;
  if (ptrace_call(PTRACE_SYSCALL, tid_) != 0 || !wait_syscall_stop()) return std::nullopt;
  if (ptrace_call(PTRACE_GETREGS, tid_, nullptr, &regs) != 0) return std::nullopt;
  usable_ = true;
  return static_cast<long>(regs.rax);
}

#else

std::optional<RemoteTask> RemoteTask::stop(pid_t, std::chrono::milliseconds) { return std::nullopt; }
RemoteTask::RemoteTask(RemoteTask&& o) noexcept : tid_(std::exchange(o.tid_, -1)) {}
RemoteTask::~RemoteTask() = default;
bool RemoteTask::seccomp_allows(long, const std::array<uint64_t, 6>&) const { return false; }
std::optional<long> RemoteTask::syscall(long, const std::array<uint64_t, 6>&) { return std::nullopt; }

#endif

}  // namespace cryo::checkpoint
