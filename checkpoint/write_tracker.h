// Which pages of a running process it writes, from a moment on, without stopping it again:
// userfaultfd write protection in asynchronous mode (Linux >= 6.7), read back with the
// PAGEMAP_SCAN ioctl. CRIU's own tracking needs soft-dirty bits, which kernels built without
// CONFIG_MEM_SOFT_DIRTY (these machines) do not have.
//
// A userfaultfd works on the memory of the process that creates it, so the process makes one
// (RemoteTask), cryo takes a copy of it with pidfd_getfd, and the process closes its own. Writes
// then cost the process one minor fault per page until the tracker is closed, which unregisters
// everything; so does cryo's exit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"

namespace cryo::checkpoint {

struct PageRange {
  uint64_t start = 0, end = 0;  // [start, end), page aligned
  bool operator==(const PageRange&) const = default;
};

// A mapping of /proc/<pid>/maps that write tracking may cover: private, and not one of the
// kernel's special mappings. Exposed for tests.
bool trackable_mapping(const std::string& maps_line, PageRange& range);

class WriteTracker {
 public:
  // Starts tracking `pid`'s private memory; nullopt when that is not possible here (another
  // architecture, an older kernel, a seccomp filter that would refuse or punish the calls, a
  // task that does not stop). The task runs on either way.
  static std::optional<WriteTracker> start(pid_t pid);

  pid_t pid() const { return pid_; }
  // The pages to copy: present, not the zero page, not file pages (what CRIU dumps), and from
  // now on write protected.
  const std::vector<PageRange>& present() const { return present_; }
  struct Changes {
    std::vector<PageRange> written;    // written since start()
    std::vector<PageRange> untracked;  // remapped or replaced since: nothing known about them
  };
  // Call with the process frozen.
  Changes changes() const;

 private:
  pid_t pid_ = -1;
  UniqueFd uffd_, pagemap_;
  std::vector<PageRange> tracked_;  // registered mappings
  std::vector<PageRange> present_;
};

}  // namespace cryo::checkpoint
