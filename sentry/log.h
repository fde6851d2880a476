// The sentry's log (D/sentry.log). The sentry's own stdio is /dev/null: the container init
// inherits it, and CRIU cannot dump stdio that points at host files.
#pragma once

#include <string>

namespace cryo::sentry {

// Opens (appends to) the log; until then messages go to stderr.
void open_log(const std::string& path);
void log_line(const std::string& message);

}  // namespace cryo::sentry
