// The last steps every container process takes, init and exec alike, once it is inside the
// container: working directory, rlimits, identity, capabilities, seccomp, fds, execve.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/fd.h"
#include "oci/spec.h"

namespace cryo::runtime {

// Unblocks every signal and restores default dispositions: both survive execve.
void reset_signals();
// stdio that is the host's /dev/null is reopened as the container's own /dev/null: same device,
// but an fd CRIU can checkpoint (a file outside the container's mounts cannot be dumped).
void rebind_null_stdio();
// Every fd >= first closes on exec: close_range(2), or fd by fd where that call is refused (a
// seccomp profile loaded early that predates it).
void mark_fds_cloexec_from(int first);
// Finds args[0] along the process's PATH inside the current root. Throws if not executable.
std::string resolve_executable(const oci::Process& p);
// chdir to process.cwd and check that it is inside the root (CVE-2024-21626).
void enter_cwd(const oci::Process& p);
// Seccomp is loaded early (before dropping privileges) when no_new_privs is off, because loading
// then needs CAP_SYS_ADMIN, and when the profile has a listener that must be handed out.
bool seccomp_loads_early(const oci::Process& p, const std::optional<oci::Seccomp>& s);
bool has_notify_action(const oci::Seccomp& s);
// Drops to the process's identity and execs it. Seccomp is loaded here unless loaded early.
[[noreturn]] void finish_and_exec(const oci::Process& p, const std::string& executable,
                                  const std::optional<oci::Seccomp>& seccomp, bool seccomp_loaded,
                                  int preserve_fds);
// The same, with the late seccomp step given by the caller (a precompiled filter); an empty
// function means no filter to load now. `exec_first`, when given, runs last, just before the
// execve, and may exec something else instead; if it returns, `executable` runs as usual.
[[noreturn]] void finish_and_exec_with(const oci::Process& p, const std::string& executable,
                                       const std::function<void()>& load_seccomp_late, int preserve_fds,
                                       const std::function<void()>& exec_first = {});

}  // namespace cryo::runtime
