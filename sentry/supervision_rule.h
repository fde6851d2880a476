// One system call routed to the sentry, as the API takes it and the sentry applies it. Header
// only: the service library uses it without linking the sentry.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cryo::sentry {

struct SupervisionRule {
  std::string syscall;
  std::string action;  // allow | log | deny
  int error = 1;       // errno for deny (EPERM by default)
};

inline nlohmann::json to_json(const std::vector<SupervisionRule>& rules) {
  nlohmann::json j = nlohmann::json::array();
  for (auto& r : rules) j.push_back({{"syscall", r.syscall}, {"action", r.action}, {"errno", r.error}});
  return j;
}

}  // namespace cryo::sentry
