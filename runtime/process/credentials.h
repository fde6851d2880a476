// The identity and privileges of a container process: rlimits, user and groups, capabilities,
// no_new_privs. Applied in the order the kernel requires, last before seccomp and execve.
#pragma once

#include "oci/spec.h"

namespace cryo::runtime {

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits);
// setgroups/setresgid/setresuid keeping capabilities, then the five capability sets.
void apply_user_and_capabilities(const oci::Process& p);
// Throws if process.capabilities.permitted or .effective names a capability this process does not
// hold (one the host withholds from cryo): cap_set_proc would refuse it at exec time. Called by
// the init inside its namespaces, so `create` fails instead of the container dying at `start`.
void check_capabilities_grantable(const oci::Process& p);

}  // namespace cryo::runtime
