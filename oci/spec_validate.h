// Cross-field rules of the runtime-spec that a parsed config must satisfy.
#pragma once

#include <string>

#include "oci/spec.h"

namespace cryo::oci {

void validate_spec(const Spec& spec, const std::string& source);
void validate_process(const Process& p, const std::string& source, const std::string& path);

}  // namespace cryo::oci
