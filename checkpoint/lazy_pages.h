// The `criu lazy-pages` daemon that serves a lazy restore: `criu restore --lazy-pages` maps the
// tasks' private memory empty (userfaultfd) and returns; the daemon fills each page on its first
// touch and copies the rest in the background, reading the checkpoint's pages image, then exits
// by itself. It listens on lazy-pages.socket in the work dir, which the restore must share.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/fd.h"
#include "checkpoint/kerndat_cache.h"

namespace cryo::checkpoint {

struct LazyPagesOptions {
  std::string binary;      // criu
  std::string images_dir;  // the checkpoint (read only)
  std::string work_dir;    // where the socket, the log and the pid file go; the restore's work dir
  std::string log_file = "lazy-pages.log";
  int log_level = 2;       // 4 logs every page fault
  int ready_timeout_ms = 10'000;
  KerndatMount kerndat;    // criu's kernel-probe cache, when cryo keeps it
};

// A started daemon. Destroying it without release() kills it: a restore that failed before the
// restored tasks connected would leave it waiting forever.
class LazyPagesDaemon {
 public:
  // Starts the daemon and returns at once: it comes up (about 40 ms, most of it criu probing the
  // kernel) while the caller prepares the restore. Throws CriuError when it cannot be started.
  static LazyPagesDaemon start(const LazyPagesOptions& opts);
  // Waits until the daemon's socket listens. Throws CriuError when it failed to come up.
  void wait_ready();

  LazyPagesDaemon(LazyPagesDaemon&& o) noexcept;
  LazyPagesDaemon& operator=(LazyPagesDaemon&&) = delete;
  ~LazyPagesDaemon();

  pid_t pid() const { return pid_; }
  // The restore succeeded: the daemon serves the restored tasks until all pages are in, then exits.
  void release();
  void kill();

 private:
  LazyPagesDaemon() = default;
  LazyPagesOptions opts_;
  pid_t starter_ = -1;  // criu before it daemonized: exits 0 once the daemon listens
  UniqueFd starter_fd_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

}  // namespace cryo::checkpoint
