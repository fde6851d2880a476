// cgroup v2 has no devices files: device rules become an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE)
// attached to the container's cgroup.
#pragma once

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "oci/spec.h"

namespace cryo::runtime {

// The program for `rules` (evaluated like the devices cgroup: the last matching rule decides;
// no match denies).
std::vector<struct bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules);
// Loads the program and attaches it to the cgroup directory, replacing an earlier one.
void attach_device_filter(const std::string& cgroup_dir, const std::vector<oci::DeviceRule>& rules);

}  // namespace cryo::runtime
