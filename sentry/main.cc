// cryo-sentry --sandbox-dir D [--ready-fd N]: the per-sandbox supervisor (see sentry.h).
// Started by the sandbox engine, already detached (setsid, stdio on /dev/null).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "sentry/layout.h"
#include "sentry/log.h"
#include "sentry/sentry.h"

namespace {

// stderr without <iostream>, which would pull the C++ locale machinery into this small binary.
void complain(const std::string& text) {
  std::string line = text + "\n";
  ssize_t n = ::write(2, line.data(), line.size());
  (void)n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int ready_fd = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--sandbox-dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--ready-fd" && i + 1 < argc) {
      ready_fd = std::atoi(argv[++i]);
    } else {
      complain("usage: cryo-sentry --sandbox-dir DIR [--ready-fd N]");
      return 2;
    }
  }
  if (dir.empty()) {
    complain("cryo-sentry: --sandbox-dir is required");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  cryo::sentry::SandboxPaths paths{dir};
  try {
    cryo::sentry::open_log(paths.log());
  } catch (const std::exception& e) {
    complain(std::string("cryo-sentry: ") + e.what());
    return 1;
  }
  try {
    cryo::sentry::Sentry sentry(paths, cryo::sentry::load_sentry_config(paths));
    sentry.start(ready_fd);
    return sentry.serve();
  } catch (const std::exception& e) {
    cryo::sentry::log_line(std::string("fatal: ") + e.what());
    return 1;
  }
}
