#include "checkpoint/perf_hooks.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cryo::checkpoint {

PerfHooksHold::PerfHooksHold(pid_t tid) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_DUMMY;  // counts nothing; only its existence matters
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  // A per-task event, any CPU.
  fd_.reset(static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC)));
}

std::future<PerfHooksHold> open_perf_hooks_hold() {
  pid_t self = ::gettid();
  return std::async(std::launch::async, [self] { return PerfHooksHold(self); });
}

}  // namespace cryo::checkpoint
