// Keeps the kernel's perf scheduling hooks switched on across a dump.
//
// CRIU catches each task leaving its parasite with a hardware breakpoint, which is a per-task
// perf event. When no per-task perf event exists on the host, creating one switches the perf
// scheduling hooks on and then waits for an RCU grace period: 5-20 ms here, spent inside the
// frozen window. A per-task software event of cryo's own, opened before the freeze and held until
// after the thaw, takes that wait out of the window (the hooks stay on while any such event
// exists). Opening it may itself wait for that grace period, so cryo opens it from another thread
// while it prepares the dump (open_perf_hooks_hold). Best effort: without it CRIU waits as before.
#pragma once

#include <sys/types.h>

#include <future>

#include "base/fd.h"

namespace cryo::checkpoint {

class PerfHooksHold {
 public:
  // The event is attached to thread `tid` (0: the calling thread).
  explicit PerfHooksHold(pid_t tid = 0);
  bool held() const { return fd_.valid(); }

 private:
  UniqueFd fd_;
};

// Opens a PerfHooksHold for the calling thread from a thread of its own.
std::future<PerfHooksHold> open_perf_hooks_hold();

}  // namespace cryo::checkpoint
