#include "sentry/layout.h"

#include "base/error.h"
#include "base/file.h"

namespace cryo::sentry {

nlohmann::json to_json(const SentryConfig& c) {
  return {{"id", c.id},     {"runtime_root", c.runtime_root}, {"mode", c.mode}, {"restore_image", c.restore_image},
          {"cwd", c.cwd}, {"spec", c.spec}, {"supervise", c.supervise}};
}

SentryConfig sentry_config_from_json(const nlohmann::json& j) {
  SentryConfig c;
  c.id = j.at("id").get<std::string>();
  c.runtime_root = j.at("runtime_root").get<std::string>();
  c.mode = j.value("mode", "create");
  c.restore_image = j.value("restore_image", "");
  c.cwd = j.value("cwd", "/");
  if (j.contains("spec")) c.spec = j["spec"];
  if (j.contains("supervise")) c.supervise = j["supervise"];
  if (c.mode != "create" && c.mode != "restore") throw Error("sandbox.json: mode `" + c.mode + "` is unknown");
  if (c.mode == "restore" && c.restore_image.empty()) throw Error("sandbox.json: restore needs restore_image");
  return c;
}

SentryConfig load_sentry_config(const SandboxPaths& paths) {
  try {
    return sentry_config_from_json(nlohmann::json::parse(read_file(paths.config())));
  } catch (const nlohmann::json::exception& e) {
    throw Error("read `" + paths.config() + "`: " + e.what());
  }
}

}  // namespace cryo::sentry
