// cryo-sentry-setup --sandbox-dir D --report-fd N: brings a sandbox's container up (create +
// start, or restore) for its sentry, reports "init <pid>" or "error: <text>" on fd N, and exits.
// The init then belongs to the sentry, a child subreaper. A separate binary because this path
// needs the CRIU client and the layer machinery, which the long-lived sentry should not carry.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>

#include "sentry/container.h"
#include "sentry/log.h"

namespace {

void report(int fd, std::string line) {
  std::replace(line.begin(), line.end(), '\n', ' ');
  line += "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  (void)n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int report_fd = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--sandbox-dir") dir = argv[i + 1];
    else if (a == "--report-fd") report_fd = std::atoi(argv[i + 1]);
  }
  if (dir.empty() || report_fd < 0) {
    std::cerr << "usage: cryo-sentry-setup --sandbox-dir DIR --report-fd N\n";
    return 2;
  }
  // The container's processes must not inherit the report pipe.
  ::fcntl(report_fd, F_SETFD, FD_CLOEXEC);
  cryo::sentry::SandboxPaths paths{dir};
  try {
    cryo::sentry::open_log(paths.log());
    pid_t init = cryo::sentry::bring_up(cryo::sentry::load_sentry_config(paths), paths);
    report(report_fd, "init " + std::to_string(init));
    return 0;
  } catch (const std::exception& e) {
    cryo::sentry::log_line(std::string("setup failed: ") + e.what());
    report(report_fd, std::string("error: ") + e.what());
    return 1;
  }
}
