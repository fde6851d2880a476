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
      const PageRegion& region = vec[static_cast<size_t>(i)];
      if (!out.empty() && out.back().end == region.start) out.back().end = region.end;
      else out.push_back({region.start, region.end});
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

namespace {

// Has `pid` make a userfaultfd for its own memory and hands cryo a copy of it; the process keeps
// none. An empty fd when its seccomp filters would not allow the calls or it cannot be stopped.
UniqueFd take_userfaultfd(pid_t pid) {
  auto task = RemoteTask::stop(pid, std::chrono::milliseconds(200));
  if (!task) return {};
  const uint64_t flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
  if (!task->seccomp_allows(kNrUserfaultfd, {flags, 0, 0, 0, 0, 0})) return {};
  // close() is checked for a few descriptor numbers before the descriptor exists.
  for (uint64_t fd : {3ul, 64ul, 1023ul})
    if (!task->seccomp_allows(kNrClose, {fd, 0, 0, 0, 0, 0})) return {};
  auto fd = task->syscall(kNrUserfaultfd, {flags, 0, 0, 0, 0, 0});
  if (!fd || *fd < 0) return {};
  UniqueFd ours;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) ours.reset(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), static_cast<int>(*fd), 0)));
  task->syscall(kNrClose, {static_cast<uint64_t>(*fd), 0, 0, 0, 0, 0});
  return ours;
}

// Registers every trackable mapping of `pid` for write protection; the ones that took.
std::vector<PageRange> register_mappings(int uffd, pid_t pid) {
  std::vector<PageRange> out;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(maps, line);) {
    PageRange r;
    if (!trackable_mapping(line, r)) continue;
    uffdio_register reg{};
    reg.range.start = r.start;
    reg.range.len = r.end - r.start;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(uffd, UFFDIO_REGISTER, &reg) == 0) out.push_back(r);
  }
  return out;
}

}  // namespace

std::optional<WriteTracker> WriteTracker::start(pid_t pid) {
  WriteTracker t;
  t.pid_ = pid;
  t.uffd_ = take_userfaultfd(pid);
  if (!t.uffd_) return std::nullopt;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = kFeatureWpAsync;
  if (::ioctl(t.uffd_.get(), UFFDIO_API, &api) != 0) return std::nullopt;
  t.pagemap_.reset(::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC));
  if (!t.pagemap_) return std::nullopt;
  t.tracked_ = register_mappings(t.uffd_.get(), pid);
  // What CRIU would dump, write protected in the same walk.
  ScanArg arg{};
  arg.flags = kScanWpMatching | kScanCheckWpAsync;
  arg.category_inverted = kIsPfnZero | kIsFile;
  arg.category_mask = kIsPfnZero | kIsFile;
  arg.category_anyof_mask = kIsPresent | kIsSwapped;
  arg.return_mask = kIsPresent | kIsSwapped;
  for (const PageRange& r : t.tracked_)
    if (!scan(t.pagemap_.get(), r, arg, t.present_)) return std::nullopt;  // remapped while cryo looked
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
