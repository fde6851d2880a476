// CVE-2019-5736: a container process must never be able to write to the cryo binary through
// /proc/<pid>/exe. Commands that enter containers re-exec cryo from a sealed memfd copy first.
#pragma once

namespace cryo::runtime {

// Returns only if already running from a sealed copy; otherwise re-execs (or throws).
void ensure_sealed_exe(char** argv);

}  // namespace cryo::runtime
