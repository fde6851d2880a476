// Request decoding (with errors that name the offending field) and response encoding.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "service/catalogue.h"
#include "service/engine.h"
#include "service/sandbox_service.h"

namespace cryo::service {

using json = nlohmann::json;

// An empty body is an empty object; anything but an object is a BadRequest.
json parse_body(const std::string& body);

CreateSandboxRequest decode_create_sandbox(const json& j);

struct RunRequest {
  CommandSpec spec;
  bool background = false;
};
RunRequest decode_run(const json& j);

struct StdinRequest {
  std::string data;
  bool close = false;
};
StdinRequest decode_stdin(const json& j);
// {"signal": 15} or {"signal": "SIGTERM"|"TERM"}; SIGKILL when absent.
int decode_signal(const json& j);

struct ImportImageRequest {
  std::string path;  // on the daemon's host
  std::string name;  // empty: derived from the path
};
ImportImageRequest decode_import_image(const json& j);

json encode_sandbox(const SandboxRecord& r);
json encode_image(const ImageRecord& r);
json encode_snapshot(const SnapshotRecord& r);
json encode_result(const CommandResult& r);
json encode_entry(const FileEntry& e);
json encode_command(const CommandInfo& c);
json error_body(const std::string& code, const std::string& message);

// Serializes for the wire; invalid UTF-8 in process output is replaced, not fatal.
std::string to_wire(const json& j);

}  // namespace cryo::service
