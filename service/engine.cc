// Defaults of the optional SandboxEngine operations: engines without a layer store (the test
// engines) support no images, and their snapshots depend on nothing outside their directory.
#include "service/engine.h"

namespace cryo::service {

std::string SandboxEngine::audit_log(const std::string&) { return ""; }

ImageInfo SandboxEngine::import_image(const std::string&) {
  throw BadRequest("this engine does not support images");
}

void SandboxEngine::remove_layers(const std::vector<std::string>&) {}

std::vector<std::string> SandboxEngine::prune_layers(const LayerUsers&) { return {}; }

SnapshotDeps SandboxEngine::snapshot_dependencies(const std::string&) { return {}; }

std::vector<std::string> SandboxEngine::adopt_snapshot(const std::string&, const std::vector<PortableLower>& lowers,
                                                       const std::map<std::string, std::string>&) {
  if (!lowers.empty()) throw BadRequest("this engine cannot use a snapshot that depends on image layers");
  return {};
}

}  // namespace cryo::service
