// Container-level choices for CRIU shared by checkpoint and restore.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "checkpoint/criu.h"
#include "oci/spec.h"

namespace cryo::runtime {

// CRIU's version and features. Probing runs criu twice, so the answer is kept in `cache_dir`
// for as long as the criu binary and the kernel stay the same.
checkpoint::CriuCapabilities criu_capabilities(checkpoint::CriuClient& criu, const std::string& cache_dir);
void apply_common_options(checkpoint::CommonOptions& c, bool tcp_established, bool ext_unix_sk, bool shell_job,
                          bool file_locks, bool lazy_pages, const std::string& manage_cgroups_mode);
checkpoint::PageServer parse_page_server(const std::string& address);
// --empty-ns values as CRIU's namespace flags: only "network" (CLONE_NEWNET) is possible.
uint32_t parse_empty_ns(const std::vector<std::string>& names);
// The directory of tools cryo puts first on criu's PATH (bin/criu-path next to this binary), or
// "" when it is not installed.
std::string criu_tools_dir();

struct ExternalMount {
  std::string destination;  // inside the container
  std::string source;       // on the host
};
// A network namespace of the container's own (no path in the spec) that holds only a loopback
// the workload cannot reconfigure (CAP_NET_ADMIN is outside its bounding set). CRIU need not dump
// it, which keeps ip/iptables runs out of the frozen window and out of restore: it is marked
// external at dump and each clone gets a fresh one.
inline constexpr const char* kFreshNetnsKey = "cryo-fresh-netns";
struct SimpleNetns {
  unsigned long inode = 0;
  bool lo_up = false;
  UniqueFd fd;  // the namespace
};
std::optional<SimpleNetns> simple_netns(const oci::Spec& spec, pid_t pid);
// A new network namespace (loopback up or down); this process stays in its own.
UniqueFd fresh_netns(bool lo_up);

// Throws `refused` + why when the container has no mount namespace of its own: its tasks live in
// the host's mount table, which CRIU would not dump, and a restore rebuilds the container's root
// and mounts in a new mount namespace of its own. Checked before anything is frozen or mounted.
void require_own_mount_namespace(const oci::Spec& spec, const std::string& refused);

// Mounts that CRIU must treat as external: binds from the host and masked files.
std::vector<ExternalMount> external_mounts(const oci::Spec& spec);

}  // namespace cryo::runtime
