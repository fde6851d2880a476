// The OCI config.json of a sandbox's container, made from its SandboxSpec.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "service/engine.h"

namespace cryo::service {

// Path of the sandbox init inside the default image.
inline constexpr const char* kSandboxInit = "/.cryo/init";

// Namespaces pid, ipc, uts, mount, cgroup, and network unless spec.network (then the host's);
// hostname = sandbox id; Docker's default capabilities; masked/read-only /proc paths as
// `cryo spec`; the host's /usr bound read-only; limits as linux.resources. The init's stdio is
// inherited from the sentry (/dev/null) so CRIU can dump it. Supervised system calls
// (spec.supervise) go to the listener at `supervisor_socket` (the sentry's).
nlohmann::json make_sandbox_config(const std::string& sandbox_id, const SandboxSpec& spec,
                                   const std::string& supervisor_socket = "");

// Points a sandbox config's supervised system calls at `supervisor_socket` (a clone's sentry).
void set_supervisor_socket(nlohmann::json& config, const std::string& supervisor_socket);

// Throws BadRequest for limits or env the config cannot express.
void validate_spec(const SandboxSpec& spec);

}  // namespace cryo::service
