// What the sentry's sources (sentry*.cc) share; not part of its interface.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace cryo::sentry {

inline constexpr size_t kChunk = 64 * 1024;
// A command is over when its process exited; background children may still hold the pipes, so
// output is collected only this much longer.
inline constexpr auto kExitGrace = std::chrono::milliseconds(200);

// One line of the wire format (protocol.h).
inline std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// A wait status as a shell reports it: the exit code, or 128 + the signal.
inline int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace cryo::sentry
