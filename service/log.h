// cryod's log: one JSON object per line on stderr ({"time","level","msg", ...fields}), so it can
// be shipped and queried without parsing prose.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cryo::service {

void log_event(const char* level, const std::string& msg, nlohmann::json fields = nlohmann::json::object());

}  // namespace cryo::service
