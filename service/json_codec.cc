#include "service/json_codec.h"

#include <csignal>
#include <cmath>
#include <set>

#include "service/ids.h"

namespace cryo::service {
namespace {

const char* type_name(const json& v) { return v.type_name(); }

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  throw BadRequest("field `" + field + "`: " + why);
}

// Rejects fields we do not know: a typo ("envs" vs "env") would otherwise be silently ignored.
void only_fields(const json& j, std::initializer_list<const char*> allowed) {
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (auto& [k, v] : j.items())
    if (!ok.count(k)) bad_field(k, "unknown field");
}

const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

void get_string(const json& j, const char* name, std::string& out) {
  if (auto* v = field(j, name)) {
    if (!v->is_string()) bad_field(name, std::string("expected a string, got ") + type_name(*v));
    out = v->get<std::string>();
  }
}

void get_bool(const json& j, const char* name, bool& out) {
  if (auto* v = field(j, name)) {
    if (!v->is_boolean()) bad_field(name, std::string("expected a boolean, got ") + type_name(*v));
    out = v->get<bool>();
  }
}

void get_number(const json& j, const char* name, double& out, double min) {
  if (auto* v = field(j, name)) {
    if (!v->is_number()) bad_field(name, std::string("expected a number, got ") + type_name(*v));
    double d = v->get<double>();
    if (!std::isfinite(d) || d < min) bad_field(name, "must be at least " + json(min).dump());
    out = d;
  }
}

void get_int(const json& j, const char* name, int64_t& out, int64_t min) {
  if (auto* v = field(j, name)) {
    if (!v->is_number_integer()) bad_field(name, std::string("expected an integer, got ") + type_name(*v));
    int64_t i = v->get<int64_t>();
    if (i < min) bad_field(name, "must be at least " + std::to_string(min));
    out = i;
  }
}

void get_string_map(const json& j, const char* name, std::map<std::string, std::string>& out) {
  if (auto* v = field(j, name)) {
    if (!v->is_object()) bad_field(name, std::string("expected an object of strings, got ") + type_name(*v));
    for (auto& [k, val] : v->items()) {
      if (!val.is_string()) bad_field(std::string(name) + "." + k, std::string("expected a string, got ") + type_name(val));
      out[k] = val.get<std::string>();
    }
  }
}

void get_string_list(const json& j, const char* name, std::vector<std::string>& out) {
  if (auto* v = field(j, name)) {
    if (!v->is_array()) bad_field(name, std::string("expected an array of strings, got ") + type_name(*v));
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string())
        bad_field(std::string(name) + "[" + std::to_string(i) + "]", std::string("expected a string, got ") + type_name((*v)[i]));
      out.push_back((*v)[i].get<std::string>());
    }
  }
}

}  // namespace

json parse_body(const std::string& body) {
  if (body.empty()) return json::object();
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw BadRequest("request body: not valid JSON");
  if (!j.is_object()) throw BadRequest(std::string("request body: expected a JSON object, got ") + j.type_name());
  return j;
}

// [{"syscall": "mkdir", "action": "deny", "errno": 13}, ...]; names are checked by the engine.
std::vector<sentry::SupervisionRule> decode_supervise(const json& list) {
  if (!list.is_array()) bad_field("supervise", std::string("expected a list of rules, got ") + type_name(list));
  std::vector<sentry::SupervisionRule> rules;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "supervise[" + std::to_string(i) + "]";
    const json& r = list[i];
    if (!r.is_object()) bad_field(where, "expected an object");
    for (auto& [k, v] : r.items())
      if (k != "syscall" && k != "action" && k != "errno") bad_field(where + "." + k, "unknown field");
    sentry::SupervisionRule rule;
    if (!r.contains("syscall") || !r["syscall"].is_string()) bad_field(where + ".syscall", "expected a string");
    rule.syscall = r["syscall"].get<std::string>();
    rule.action = r.value("action", std::string("log"));
    if (rule.action != "allow" && rule.action != "log" && rule.action != "deny")
      bad_field(where + ".action", "must be allow, log or deny");
    if (r.contains("errno")) {
      if (!r["errno"].is_number_integer() || r["errno"].get<int64_t>() < 1 || r["errno"].get<int64_t>() > 4095)
        bad_field(where + ".errno", "must be an integer 1..4095");
      rule.error = r["errno"].get<int>();
    }
    rules.push_back(rule);
  }
  return rules;
}

CreateSandboxRequest decode_create_sandbox(const json& j) {
  only_fields(j, {"image", "snapshot_id", "envs", "cwd", "timeout", "cpus", "memory_mb", "pids", "disk_mb", "network",
                  "metadata", "supervise"});
  CreateSandboxRequest r;
  get_string(j, "image", r.spec.image);
  if (r.spec.image.empty()) bad_field("image", "must not be empty");
  get_string(j, "snapshot_id", r.snapshot_id);
  if (!r.snapshot_id.empty() && !is_valid_id(r.snapshot_id, "snap"))
    bad_field("snapshot_id", "expected snap-<16 hex digits>, got `" + r.snapshot_id + "`");
  get_string_map(j, "envs", r.spec.env);
  get_string(j, "cwd", r.spec.cwd);
  if (r.spec.cwd.empty() || r.spec.cwd[0] != '/') bad_field("cwd", "must be an absolute path");
  get_number(j, "timeout", r.timeout_s, 0);
  get_number(j, "cpus", r.spec.limits.cpus, 0);
  int64_t memory_mb = 0;
  get_int(j, "memory_mb", memory_mb, 0);
  r.spec.limits.memory_bytes = memory_mb * 1024 * 1024;
  get_int(j, "pids", r.spec.limits.pids, 0);
  int64_t disk_mb = 0;
  get_int(j, "disk_mb", disk_mb, 1);  // no 0 = unlimited here: the layer is memory
  if (disk_mb > (int64_t{1} << 40)) bad_field("disk_mb", "must be at most " + std::to_string(int64_t{1} << 40));
  r.spec.limits.disk_bytes = disk_mb * 1024 * 1024;
  get_bool(j, "network", r.spec.network);
  get_string_map(j, "metadata", r.spec.metadata);
  if (const json* s = field(j, "supervise")) r.spec.supervise = decode_supervise(*s);
  return r;
}

RunRequest decode_run(const json& j) {
  only_fields(j, {"cmd", "argv", "envs", "cwd", "user", "timeout", "stdin", "background"});
  RunRequest r;
  std::string cmd;
  get_string(j, "cmd", cmd);
  get_string_list(j, "argv", r.spec.argv);
  bool has_cmd = field(j, "cmd") != nullptr, has_argv = field(j, "argv") != nullptr;
  if (has_cmd == has_argv) bad_field("cmd", "give exactly one of `cmd` (a shell command) or `argv`");
  if (has_cmd) r.spec.argv = {"/bin/sh", "-c", cmd};
  if (r.spec.argv.empty()) bad_field("argv", "must not be empty");
  get_string_map(j, "envs", r.spec.env);
  get_string(j, "cwd", r.spec.cwd);
  if (!r.spec.cwd.empty() && r.spec.cwd[0] != '/') bad_field("cwd", "must be an absolute path");
  get_string(j, "user", r.spec.user);
  get_number(j, "timeout", r.spec.timeout_s, 0);
  get_string(j, "stdin", r.spec.stdin_data);
  get_bool(j, "background", r.background);
  return r;
}

StdinRequest decode_stdin(const json& j) {
  only_fields(j, {"data", "close"});
  StdinRequest r;
  get_string(j, "data", r.data);
  get_bool(j, "close", r.close);
  return r;
}

int decode_signal(const json& j) {
  only_fields(j, {"signal"});
  auto* v = field(j, "signal");
  if (!v) return SIGKILL;
  if (v->is_number_integer()) {
    int64_t s = v->get<int64_t>();
    if (s < 1 || s > 64) bad_field("signal", "must be between 1 and 64");
    return static_cast<int>(s);
  }
  if (!v->is_string()) bad_field("signal", std::string("expected an integer or a name, got ") + type_name(*v));
  std::string name = v->get<std::string>();
  if (name.starts_with("SIG")) name = name.substr(3);
  static const std::map<std::string, int> names = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                                                   {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                                                   {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}};
  auto it = names.find(name);
  if (it == names.end()) bad_field("signal", "unknown signal name `" + v->get<std::string>() + "`");
  return it->second;
}

json encode_sandbox(const SandboxRecord& r) {
  json j = {{"sandbox_id", r.id},
            {"state", r.state},
            {"image", r.image},
            {"created_at", rfc3339(r.created_ns)},
            {"cpus", r.cpus},
            {"memory_mb", r.memory_bytes / (1024 * 1024)},
            {"pids", r.pids},
            {"disk_mb", r.disk_bytes / (1024 * 1024)},
            {"network", r.network},
            {"metadata", r.metadata}};
  if (r.expires_ns) j["expires_at"] = rfc3339(r.expires_ns);
  if (r.ended_ns) j["ended_at"] = rfc3339(r.ended_ns);
  if (!r.snapshot_id.empty()) j["snapshot_id"] = r.snapshot_id;
  return j;
}

json encode_snapshot(const SnapshotRecord& r) {
  return {{"snapshot_id", r.id},
          {"sandbox_id", r.sandbox_id},
          {"created_at", rfc3339(r.created_ns)},
          {"size_bytes", r.size_bytes},
          {"image", r.image.empty() ? std::string("default") : r.image}};
}

ImportImageRequest decode_import_image(const json& j) {
  only_fields(j, {"path", "name"});
  ImportImageRequest r;
  get_string(j, "path", r.path);
  if (r.path.empty() || r.path[0] != '/') bad_field("path", "must be an absolute path on the daemon's host");
  get_string(j, "name", r.name);
  return r;
}

json encode_image(const ImageRecord& r) {
  return {{"name", r.info.name},
          {"digest", r.info.digest},
          {"layers", r.info.layers},
          {"size_bytes", r.info.size_bytes},
          {"created_at", rfc3339(r.created_ns)},
          {"env", r.info.env},
          {"entrypoint", r.info.entrypoint},
          {"cmd", r.info.cmd},
          {"working_dir", r.info.working_dir},
          {"user", r.info.user}};
}

json encode_result(const CommandResult& r) {
  return {{"stdout", r.stdout_data}, {"stderr", r.stderr_data}, {"exit_code", r.exit_code}, {"timed_out", r.timed_out}};
}

json encode_entry(const FileEntry& e) {
  return {{"name", e.name}, {"path", e.path}, {"type", e.type}, {"size", e.size}, {"mode", e.mode}, {"mtime", e.mtime}};
}

json encode_command(const CommandInfo& c) {
  json j = {{"command_id", c.id}, {"argv", c.argv}, {"running", c.running}};
  if (c.exit_code) j["exit_code"] = *c.exit_code;
  return j;
}

json error_body(const std::string& code, const std::string& message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

std::string to_wire(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace cryo::service
