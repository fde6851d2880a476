// The spec's seccomp profile compiled with libseccomp and loaded into the calling process.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "base/fd.h"
#include "oci/spec.h"

namespace cryo::runtime {

// Loads the filter. Returns the user-notification listener fd when the profile uses
// SCMP_ACT_NOTIFY, otherwise an empty fd.
UniqueFd load_seccomp(const oci::Seccomp& profile);

// Compiles without loading; throws what load_seccomp would (for early validation and tests).
void compile_seccomp(const oci::Seccomp& profile);

// The classic BPF program libseccomp generates for the profile (what the kernel reports back
// for a loaded filter, e.g. to CRIU). Any profile, SCMP_ACT_NOTIFY included.
std::vector<sock_filter> export_seccomp_bpf(const oci::Seccomp& profile);

// The profile compiled once to classic BPF, with the flags libseccomp would load it with. A
// long-lived launcher compiles once and each forked process only loads the program: compiling
// is most of the cost of loading. Not for profiles with SCMP_ACT_NOTIFY, whose listener comes
// from libseccomp's own load (throws).
struct SeccompProgram {
  std::vector<sock_filter> code;
  unsigned int flags = 0;  // SECCOMP_FILTER_FLAG_*
};
SeccompProgram compile_seccomp_program(const oci::Seccomp& profile);
// Loads the program into the calling process, as seccomp_load would load the profile.
void load_seccomp_program(const SeccompProgram& program);

}  // namespace cryo::runtime
