// cryo-sentry --sandbox-dir D [--ready-fd N]: the per-sandbox supervisor (see sentry.h).
// Started by the sandbox engine, already detached (setsid, stdio on /dev/null).
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "sentry/layout.h"
#include "sentry/log.h"
#include "sentry/sentry.h"

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
      std::cerr << "usage: cryo-sentry --sandbox-dir DIR [--ready-fd N]\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::cerr << "cryo-sentry: --sandbox-dir is required\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  cryo::sentry::SandboxPaths paths{dir};
  try {
    cryo::sentry::open_log(paths.log());
  } catch (const std::exception& e) {
    std::cerr << "cryo-sentry: " << e.what() << "\n";
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
