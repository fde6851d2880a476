// Runs a seccomp filter program (classic BPF) on one system call, as the kernel would, so that
// cryo can tell whether a call it makes a task run would be allowed, before making it.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <vector>

namespace cryo::checkpoint {

// The filter's verdict (SECCOMP_RET_* with its data) for `call`. A program that reads outside
// seccomp_data, jumps out of range or runs off its end is answered SECCOMP_RET_KILL_PROCESS.
uint32_t run_seccomp_filter(const std::vector<sock_filter>& program, const seccomp_data& call);

// Whether a task whose filters are `programs` (any order) may make `call`: every filter must
// answer ALLOW or LOG.
bool seccomp_allows(const std::vector<std::vector<sock_filter>>& programs, const seccomp_data& call);

}  // namespace cryo::checkpoint
