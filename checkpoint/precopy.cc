#include "checkpoint/precopy.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "base/proc.h"
#include "base/text.h"

namespace cryo::checkpoint {
namespace {

constexpr uint64_t kPage = 4096;

// Reads [start, end) of `pid` into `to`; the number of bytes read (short when part of the range
// went away).
size_t read_remote(pid_t pid, uint64_t start, uint64_t end, char* to) {
  size_t done = 0, len = end - start;
  while (done < len) {
    iovec local{to + done, len - done};
    iovec remote{reinterpret_cast<void*>(start + done), len - done};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done / kPage * kPage;
}

std::vector<uint64_t> ns_pids(pid_t pid) {
  std::vector<uint64_t> out;
  if (auto field = proc_status_field(pid, "NSpid"))
    for (const std::string& w : words(*field)) out.push_back(std::strtoull(w.c_str(), nullptr, 10));
  return out;
}

}  // namespace

std::vector<MemoryPrecopy::Task> precopy_tasks(const std::vector<pid_t>& host_pids, pid_t init) {
  size_t level = ns_pids(init).size();
  std::vector<MemoryPrecopy::Task> out;
  if (level == 0) return out;
  for (pid_t pid : host_pids) {
    auto ids = ns_pids(pid);
    if (ids.size() >= level) out.push_back({pid, ids[level - 1]});
  }
  return out;
}

MemoryPrecopy::MemoryPrecopy(const std::vector<Task>& tasks, const Allocate& allocate) {
  // Tracking starts from a thread of its own: ptrace ties a tracee to the tracing thread, and that
  // thread's exit lets go of any task that could not be stopped and released properly.
  std::vector<std::optional<WriteTracker>> started(tasks.size());
  std::thread([&] {
    for (size_t i = 0; i < tasks.size(); ++i) started[i] = WriteTracker::start(tasks[i].host_pid);
  }).join();
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& task = tasks[i];
    auto& tracker = started[i];
    if (!tracker) continue;
    for (const PageRange& r : tracker->present()) {
      for (uint64_t at = r.start; at < r.end;) {
        size_t got = 0;
        char* buf = allocate(r.end - at, got);
        got = got / kPage * kPage;
        if (!buf || got == 0) break;
        size_t read = read_remote(task.host_pid, at, at + got, buf);
        shadow_.add(task.image_id, at, read / kPage, buf);
        copied_ += read / kPage;
        if (read < got) break;  // unmapped meanwhile: CRIU's copy will do
        at += got;
      }
    }
    trackers_.emplace_back(std::move(*tracker), task.image_id);
    ++tasks_;
  }
}

void MemoryPrecopy::settle() {
  for (auto& [tracker, id] : trackers_) {
    WriteTracker::Changes changes = tracker.changes();
    for (const PageRange& r : changes.untracked) shadow_.drop(id, r.start, r.end);
    for (const PageRange& r : changes.written) {
      // Held pages of the range are read again in place; pages not held stay CRIU's.
      for (uint64_t at = r.start; at < r.end;) {
        auto [data, pages] = shadow_.find(id, at, (r.end - at) / kPage);
        uint64_t end = at + pages * kPage;
        if (data) {
          size_t read = read_remote(tracker.pid(), at, end, data);
          recopied_ += read / kPage;
          if (read < end - at) shadow_.drop(id, at + read, end);
        }
        at = end;
      }
    }
  }
}

}  // namespace cryo::checkpoint
