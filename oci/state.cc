#include "oci/state.h"

namespace cryo::oci {

std::string status_name(Status s) {
  switch (s) {
    case Status::Creating: return "creating";
    case Status::Created: return "created";
    case Status::Running: return "running";
    case Status::Paused: return "paused";
    case Status::Stopped: return "stopped";
  }
  return "unknown";
}

std::optional<Status> parse_status(const std::string& name) {
  for (Status s : {Status::Creating, Status::Created, Status::Running, Status::Paused, Status::Stopped})
    if (status_name(s) == name) return s;
  return std::nullopt;
}

nlohmann::json state_json(const State& s) {
  nlohmann::json j = {{"ociVersion", s.oci_version}, {"id", s.id}, {"status", status_name(s.status)},
                      {"bundle", s.bundle}};
  if (s.status != Status::Stopped) j["pid"] = s.pid;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return j;
}

}  // namespace cryo::oci
