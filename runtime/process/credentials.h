// The identity and privileges of a container process: rlimits, user and groups, capabilities,
// no_new_privs. Applied in the order the kernel requires, last before seccomp and execve.
#pragma once

#include "oci/spec.h"

namespace cryo::runtime {

void apply_rlimits(const std::vector<oci::Rlimit>& rlimits);
// setgroups/setresgid/setresuid keeping capabilities, then the five capability sets.
void apply_user_and_capabilities(const oci::Process& p);

}  // namespace cryo::runtime
