// OCI hooks: each runs with the container state on stdin, its own args and env, and a timeout.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"

namespace cryo::runtime {

// Runs hooks in order; the first failure throws, naming the hook kind, index and path.
void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& kind, const nlohmann::json& state);
// For poststart and poststop (runtime-spec): every hook runs; each failure is a warning on stderr
// ("cryo: warning: poststart hook #0 ...") and the lifecycle goes on.
void run_hooks_warning_on_failure(const std::vector<oci::Hook>& hooks, const std::string& kind,
                                  const nlohmann::json& state);

}  // namespace cryo::runtime
