#include "sentry/log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

namespace cryo::sentry {
namespace {
int g_log_fd = STDERR_FILENO;
}

void open_log(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("open log `" + path + "`");
  g_log_fd = fd;
}

void log_line(const std::string& message) {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char stamp[40];
  ::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line = std::string(stamp) + " [" + std::to_string(::getpid()) + "] " + message + "\n";
  // Best effort: a full disk must not take the sandbox down.
  ssize_t n = ::write(g_log_fd, line.data(), line.size());
  (void)n;
}

}  // namespace cryo::sentry
