// Runs a command on the host with pipes for stdio, in its own session so it can be killed as a group.
// Test-only support for the in-memory engine.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"

namespace cryo::service::testengine {

struct HostProcess {
  pid_t pid = -1;
  UniqueFd stdin_fd, stdout_fd, stderr_fd;
};

HostProcess spawn_host_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                               const std::string& cwd);

struct PumpResult {
  int exit_code = -1;
  bool timed_out = false;
};

// Forwards stdout/stderr to the callbacks until both close, then reaps the process. Kills the
// process group at the deadline. Writes `input` to stdin first (closing stdin afterwards if
// close_stdin).
PumpResult pump_host_process(HostProcess& p, std::string_view input, bool close_stdin,
                             std::chrono::steady_clock::time_point deadline,
                             const std::function<void(std::string_view)>& on_stdout,
                             const std::function<void(std::string_view)>& on_stderr);

}  // namespace cryo::service::testengine
