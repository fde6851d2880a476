// Container-level choices for CRIU shared by checkpoint and restore.
#pragma once

#include <string>
#include <vector>

#include "checkpoint/criu.h"
#include "oci/spec.h"

namespace cryo::runtime {

// CRIU's version and features. Probing runs criu twice, so the answer is kept in `cache_dir`
// for as long as the criu binary and the kernel stay the same.
checkpoint::CriuCapabilities criu_capabilities(checkpoint::CriuClient& criu, const std::string& cache_dir);
void apply_common_options(checkpoint::CommonOptions& c, bool tcp_established, bool ext_unix_sk, bool shell_job,
                          bool file_locks, bool lazy_pages, const std::string& manage_cgroups_mode);
checkpoint::PageServer parse_page_server(const std::string& address);

struct ExternalMount {
  std::string destination;  // inside the container
  std::string source;       // on the host
};
// Mounts that CRIU must treat as external: binds from the host and masked files.
std::vector<ExternalMount> external_mounts(const oci::Spec& spec);

}  // namespace cryo::runtime
