// Where a sandbox keeps its things on the host, and what the engine tells its sentry.
//
//   <state>/sandboxes/<id>/            the sandbox directory D
//     sandbox.json                     SentryConfig (+ the engine's record of the spec)
//     bundle/config.json, bundle/rootfs
//     layer/                           a size-limited tmpfs: the overlay's writable layer
//       upper/, work/                  (fresh sandboxes; restored ones keep theirs in cryo's state)
//     sentry.sock, sentry.pid, init.pid, sentry.log
//     cmds/<cmd>.pid                   host pid of each running exec'd process
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace cryo::sentry {

struct SandboxPaths {
  std::string dir;

  std::string config() const { return dir + "/sandbox.json"; }
  std::string bundle() const { return dir + "/bundle"; }
  std::string rootfs() const { return dir + "/bundle/rootfs"; }
  std::string layer() const { return dir + "/layer"; }
  std::string socket() const { return dir + "/sentry.sock"; }
  std::string pid_file() const { return dir + "/sentry.pid"; }
  std::string init_pid_file() const { return dir + "/init.pid"; }
  std::string log() const { return dir + "/sentry.log"; }
  std::string cmds() const { return dir + "/cmds"; }
  std::string cmd_pid_file(const std::string& cmd) const { return cmds() + "/" + cmd + ".pid"; }
  std::string supervisor_socket() const { return dir + "/supervisor.sock"; }  // seccomp listeners in
  std::string audit_log() const { return dir + "/audit.jsonl"; }              // what the supervisor saw
};

struct SentryConfig {
  std::string id;                // the container id (= the sandbox id)
  std::string runtime_root;      // cryo's state root (GlobalOptions::root)
  std::string mode = "create";   // create: a fresh container from bundle/; restore: from restore_image
  std::string restore_image;     // restore: the CRIU image directory of the snapshot
  std::string cwd = "/";         // default working directory of exec'd commands
  nlohmann::json spec;           // the engine's record of the sandbox spec (the sentry ignores it)
  nlohmann::json supervise;      // syscall supervision rules (supervisor.h); null: none
};

nlohmann::json to_json(const SentryConfig& c);
SentryConfig sentry_config_from_json(const nlohmann::json& j);
SentryConfig load_sentry_config(const SandboxPaths& paths);

}  // namespace cryo::sentry
