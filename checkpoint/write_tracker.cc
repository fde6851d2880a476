#include "checkpoint/write_tracker.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "checkpoint/remote_task.h"

namespace cryo::checkpoint {
namespace {

// Linux >= 6.7 ABI, not yet in Debian 12's headers.
constexpr uint64_t kFeatureWpAsync = 1ull << 15;
constexpr uint64_t kScanWpMatching = 1, kScanCheckWpAsync = 2;
constexpr uint64_t kIsWritten = 1 << 1, kIsFile = 1 << 2, kIsPresent = 1 << 3, kIsSwapped = 1 << 4,
                   kIsPfnZero = 1 << 5;
struct PageRegion {
  uint64_t start, end, categories;
};
struct ScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, ScanArg);
constexpr long kNrUserfaultfd = 323, kNrClose = 3;

// Runs PAGEMAP_SCAN over [range), collecting the matching regions. false: some mapping in the
// range is no longer registered for asynchronous write protection.
bool scan(int pagemap, PageRange range, ScanArg arg, std::vector<PageRange>& out) {
  std::vector<PageRegion> vec(512);
  arg.size = sizeof arg;
  arg.start = range.start;
  arg.end = range.end;
  arg.vec = reinterpret_cast<uint64_t>(vec.data());
  arg.vec_len = vec.size();
  while (arg.start < range.end) {
    long n = ::ioctl(pagemap, kPagemapScan, &arg);
    if (n < 0) return false;
    for (long i = 0; i < n; ++i) {
      if (!out.empty() && out.back().end == vec[static_cast<size_t>(i)].start) out.back().end = vec[static_cast<size_t>(i)].end;
      else out.push_back({vec[static_cast<size_t>(i)].start, vec[static_cast<size_t>(i)].end});
    }
    if (arg.walk_end <= arg.start) break;
    arg.start = arg.walk_end;
  }
  return true;
}

}  // namespace

bool trackable_mapping(const std::string& line, PageRange& range) {
  unsigned long start = 0, end = 0;
  char perms[8] = {};
  if (std::sscanf(line.c_str(), "%lx-%lx %7s", &start, &end, perms) != 3) return false;
  if (perms[3] != 'p') return false;
  for (const char* special : {"[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]"})
    if (line.find(special) != std::string::npos) return false;
  range = {start, end};
  return end > start;
}

std::optional<WriteTracker> WriteTracker::start(pid_t pid) {
  WriteTracker t;
  t.pid_ = pid;
  {
    auto task = RemoteTask::stop(pid, std::chrono::milliseconds(200));
    if (!task) return std::nullopt;
    const uint64_t flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
    if (!task->seccomp_allows(kNrUserfaultfd, {flags, 0, 0, 0, 0, 0})) return std::nullopt;
    // close() is checked for a few descriptor numbers before the descriptor exists.
    for (uint64_t fd : {3ul, 64ul, 1023ul})
      if (!task->seccomp_allows(kNrClose, {fd, 0, 0, 0, 0, 0})) return std::nullopt;
    auto fd = task->syscall(kNrUserfaultfd, {flags, 0, 0, 0, 0, 0});
    if (!fd || *fd < 0) return std::nullopt;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd) t.uffd_.reset(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(*fd), 0)));
    task->syscall(kNrClose, {static_cast<uint64_t>(*fd), 0, 0, 0, 0, 0});
    if (!t.uffd_) return std::nullopt;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = kFeatureWpAsync;
  if (::ioctl(t.uffd_.get(), UFFDIO_API, &api) != 0) return std::nullopt;
  t.pagemap_.reset(::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC));
  if (!t.pagemap_) return std::nullopt;

  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    PageRange r;
    if (!trackable_mapping(line, r)) continue;
    uffdio_register reg{};
    reg.range.start = r.start;
    reg.range.len = r.end - r.start;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(t.uffd_.get(), UFFDIO_REGISTER, &reg) == 0) t.tracked_.push_back(r);
  }
  // What CRIU would dump, write protected in the same walk.
  ScanArg arg{};
  arg.flags = kScanWpMatching | kScanCheckWpAsync;
  arg.category_inverted = kIsPfnZero | kIsFile;
  arg.category_mask = kIsPfnZero | kIsFile;
  arg.category_anyof_mask = kIsPresent | kIsSwapped;
  arg.return_mask = kIsPresent | kIsSwapped;
  std::vector<PageRange> untracked;
  for (const PageRange& r : t.tracked_)
    if (!scan(t.pagemap_.get(), r, arg, t.present_)) untracked.push_back(r);
  if (!untracked.empty()) return std::nullopt;  // changed while cryo looked: start again later
  return t;
}

WriteTracker::Changes WriteTracker::changes() const {
  Changes c;
  ScanArg arg{};
  arg.flags = kScanCheckWpAsync;
  arg.category_mask = kIsWritten;
  arg.return_mask = kIsWritten;
  for (const PageRange& r : tracked_) {
    std::vector<PageRange> written;
    if (scan(pagemap_.get(), r, arg, written)) c.written.insert(c.written.end(), written.begin(), written.end());
    else c.untracked.push_back(r);
  }
  return c;
}

}  // namespace cryo::checkpoint
