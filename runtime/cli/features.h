#pragma once
#include <nlohmann/json.hpp>
namespace cryo::cli {
// What `cryo features` prints: the runtime-spec's features document.
nlohmann::json features_json();
}  // namespace cryo::cli
