// The container state of the runtime-spec (what `state` prints and hooks read on stdin).
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace cryo::oci {

enum class Status { Creating, Created, Running, Paused, Stopped };

std::string status_name(Status s);
std::optional<Status> parse_status(const std::string& name);

struct State {
  std::string oci_version = "1.2.0";
  std::string id;
  Status status = Status::Creating;
  int pid = 0;  // 0 when stopped
  std::string bundle;
  std::map<std::string, std::string> annotations;
};

// The spec's state object: ociVersion, id, status, pid (omitted when stopped), bundle, annotations.
nlohmann::json state_json(const State& s);

}  // namespace cryo::oci
