// The spec's seccomp profile compiled with libseccomp and loaded into the calling process.
#pragma once

#include "base/fd.h"
#include "oci/spec.h"

namespace cryo::runtime {

// Loads the filter. Returns the user-notification listener fd when the profile uses
// SCMP_ACT_NOTIFY, otherwise an empty fd.
UniqueFd load_seccomp(const oci::Seccomp& profile);

// Compiles without loading; throws what load_seccomp would (for early validation and tests).
void compile_seccomp(const oci::Seccomp& profile);

}  // namespace cryo::runtime
