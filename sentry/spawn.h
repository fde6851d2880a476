// Starting a sentry so that it outlives its starter (cryod restarts must not take sandboxes down).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace cryo::sentry {

// Double-forks `sentry_binary --sandbox-dir dir` into its own session with stdio on /dev/null
// (the container init inherits them) and waits until it reports the sandbox up. Returns its pid.
// Throws cryo::Error with the sentry's own message when it fails, or on timeout (then the sentry
// is killed). Safe to call from a multi-threaded process.
pid_t spawn_sentry(const std::string& sentry_binary, const std::string& dir, std::chrono::milliseconds timeout);

}  // namespace cryo::sentry
