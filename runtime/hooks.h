// OCI hooks: each runs with the container state on stdin, its own args and env, and a timeout.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"

namespace cryo::runtime {

// Runs hooks in order; the first failure throws, naming the hook kind, index and path.
void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& kind, const nlohmann::json& state);

}  // namespace cryo::runtime
