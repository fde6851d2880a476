// Keeps the kernel's perf scheduling hooks switched on across a dump.
//
// CRIU catches each task leaving its parasite with a hardware breakpoint, which is a per-task
// perf event. When no per-task perf event exists on the host, creating one switches the perf
// scheduling hooks on and then waits for an RCU grace period: 5-20 ms here, spent inside the
// frozen window. A per-task software event of cryo's own, opened before the freeze and held until
// after the thaw, takes that wait out of the window (the hooks stay on while any such event
// exists). Best effort: without it CRIU just waits as before.
#pragma once

#include "base/fd.h"

namespace cryo::checkpoint {

class PerfHooksHold {
 public:
  PerfHooksHold();
  bool held() const { return fd_.valid(); }

 private:
  UniqueFd fd_;
};

}  // namespace cryo::checkpoint
