// Seccomp filters in a checkpoint image, for containers whose profile sends system calls to a
// user-notification listener (SCMP_ACT_NOTIFY).
//
// CRIU dumps every task's filters as their BPF programs but cannot carry a listener over: a
// restored filter that answers USER_NOTIF has nobody listening, and the kernel then fails those
// calls with ENOSYS. A container that says what its supervised calls should do without their
// supervisor (the kNotifyFallback annotation) gets its image rewritten instead: each filter
// equal to its profile's program is replaced by the program of the same profile where every
// NOTIFY rule has that fallback action. New processes started after a restore load the profile
// afresh, with a new listener.
#pragma once

#include <linux/filter.h>

#include <map>
#include <string>
#include <vector>

#include "oci/spec.h"

namespace cryo::runtime {

// Annotation: a JSON object from system call name to "allow" or "errno:<n>".
inline constexpr const char* kNotifyFallback = "run.cryo.seccomp.notify-fallback";

// The fallback of each system call, parsed from the annotation; Error names a bad entry.
std::map<std::string, std::string> parse_notify_fallback(const std::string& annotation);

// `profile` with each NOTIFY rule replaced by its fallback (Error when a notified call has none).
oci::Seccomp with_notify_fallback(const oci::Seccomp& profile, const std::map<std::string, std::string>& fallback);

// Replaces, in CRIU's seccomp.img under `image_dir`, every filter whose program equals `from`
// by `to`. Returns how many were replaced. Writes atomically; throws on a malformed image.
size_t replace_seccomp_filters(const std::string& image_dir, const std::vector<sock_filter>& from,
                               const std::vector<sock_filter>& to);

}  // namespace cryo::runtime
