// Copying a container's memory before it is frozen, so the dump's frozen window does not.
//
// Without soft-dirty bits CRIU cannot skip pages that did not change since an earlier copy, and
// copying 256 MiB out of the kernel costs ~50 ms of a core: most of the snapshot pause on two
// cores. So cryo tracks writes itself (write_tracker.h), copies each process's memory while the
// container runs, and, once the container is frozen, copies again only what was written in the
// meantime. CRIU still streams every page to cryo's page sink (as references, not copies); the
// sink drops the pages the shadow holds and writes the shadow's copies to the images.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "checkpoint/page_shadow.h"
#include "checkpoint/write_tracker.h"

namespace cryo::checkpoint {

class MemoryPrecopy {
 public:
  // Gives `bytes` of buffer, possibly fewer; the data stays put until the sink is done.
  using Allocate = std::function<char*(size_t bytes, size_t& got)>;
  struct Task {
    pid_t host_pid;
    uint64_t image_id;  // the pid CRIU names its pagemap image after (in the container's pid namespace)
  };
  // Tracks and copies each task's memory now. Tasks that cannot be tracked are left to CRIU.
  MemoryPrecopy(const std::vector<Task>& tasks, const Allocate& allocate);

  // With every task frozen: copies again what was written since, forgets what is unknown.
  void settle();
  // Ends write tracking (the tasks' writes fault no more); the shadow stays.
  void stop_tracking() { trackers_.clear(); }
  const PageShadow& shadow() const { return shadow_; }
  uint64_t tracked_tasks() const { return tasks_; }
  uint64_t copied_pages() const { return copied_; }
  uint64_t recopied_pages() const { return recopied_; }

 private:
  std::vector<std::pair<WriteTracker, uint64_t>> trackers_;  // with the image id
  PageShadow shadow_;
  uint64_t tasks_ = 0, copied_ = 0, recopied_ = 0;
};

// The image ids of host pids: their pid at the level of `init`'s own pid namespace.
std::vector<MemoryPrecopy::Task> precopy_tasks(const std::vector<pid_t>& host_pids, pid_t init);

}  // namespace cryo::checkpoint
