// A long-lived launcher for exec: what container_exec prepares for every process, prepared once.
//
// container_exec reads the container's state, opens its namespaces, compiles its seccomp
// profile and makes the new process join the container's cgroups, for each process. Joining is
// the expensive part: every write to a cgroup.procs file waits for an RCU grace period, which is
// milliseconds. A launcher joins the cgroups and namespaces once; the processes it forks inherit
// both, then take the same last steps as an exec'd process (setsid, cwd, rlimits, identity,
// capabilities, no_new_privs, seccomp, execve).
#pragma once

#include <sys/types.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "oci/spec.h"
#include "runtime/container.h"
#include "runtime/process/seccomp.h"

namespace cryo::runtime {

class ExecLauncher {
 public:
  // Turns the calling process into the container's launcher, for good: it joins the container's
  // cgroups and its namespaces. The pid (and time) namespace only applies to its children, so
  // the launcher itself stays in ours, invisible from inside the container. The caller must be
  // a dedicated, single-threaded process that never needs the host's mounts again.
  static ExecLauncher prepare(const GlobalOptions& g, const std::string& id);

  // Forks a process (clone with `clone_flags`, e.g. CLONE_PARENT so that the caller's parent
  // reaps it) that becomes `process` in the container with `stdio` as its fds 0, 1 and 2.
  // Returns its pid in the caller's pid namespace. If the process cannot exec, it writes
  // error_prefix and the reason to its stderr and exits 127, as a failed `exec` would.
  // With a profile that has user-notification rules, the process sends its listener on
  // `listener_sink` (a SOCK_SEQPACKET socket, message "seccomp-listener") before it executes.
  // `exec_first` is finish_and_exec_with's (runtime/process/launch.h): a last-moment exec of
  // something else, in place of `process.args` unless it fails.
  pid_t launch(const oci::Process& process, const std::array<int, 3>& stdio, unsigned long clone_flags,
               const std::string& error_prefix, int listener_sink = -1,
               const std::function<void()>& exec_first = {}) const;

 private:
  std::optional<oci::Seccomp> seccomp_;
  std::optional<SeccompProgram> program_;  // seccomp_ compiled; empty for listener profiles
};

}  // namespace cryo::runtime
