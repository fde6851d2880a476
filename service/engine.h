// The boundary between cryod and the sandbox machinery. cryod (HTTP, catalogue, timeouts) only talks
// to this interface; the sentry-backed engine implements it, tests use doubles.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace cryo::service {

struct Limits {
  int64_t memory_bytes = 0;  // 0 = unlimited
  int64_t pids = 0;
  double cpus = 0;
};

struct SandboxSpec {
  std::string image = "default";
  std::map<std::string, std::string> env;
  std::string cwd = "/";
  Limits limits;
  bool network = false;
  std::map<std::string, std::string> metadata;
  std::string snapshot_dir;  // empty: fresh; else restore from this snapshot directory
};

struct CommandSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;
  std::string user;
  double timeout_s = 60;
  std::string stdin_data;
};

struct CommandResult {
  std::string stdout_data, stderr_data;
  int exit_code = -1;
  bool timed_out = false;
};

// Callbacks may run on engine threads; they must not block for long.
struct OutputSink {
  std::function<void(std::string_view)> on_stdout, on_stderr;
  // Added field: a background command reports its end here exactly once (exit code, or 128+signal).
  std::function<void(int exit_code)> on_exit;
};

struct FileEntry {
  std::string name, path, type;  // type: file|dir|symlink|other
  int64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;  // seconds since the epoch
};

class SandboxEngine {  // implemented by the sentry-backed engine; tests use a double
 public:
  virtual ~SandboxEngine() = default;
  virtual void create(const std::string& sandbox_id, const SandboxSpec&) = 0;
  virtual CommandResult run(const std::string& sandbox_id, const CommandSpec&, const OutputSink&) = 0;
  // background command: start returns a command id; stdin/kill/wait by id
  virtual std::string start_command(const std::string& sandbox_id, const CommandSpec&, OutputSink) = 0;
  virtual void write_stdin(const std::string& sandbox_id, const std::string& cmd_id, std::string_view data,
                           bool close) = 0;
  virtual void kill_command(const std::string& sandbox_id, const std::string& cmd_id, int sig) = 0;
  virtual std::vector<std::string> list_commands(const std::string& sandbox_id) = 0;
  // paths are inside the sandbox, resolved in-root
  virtual std::string read_file(const std::string& sandbox_id, const std::string& path) = 0;
  virtual void write_file(const std::string& sandbox_id, const std::string& path, std::string_view data,
                          uint32_t mode) = 0;
  virtual std::vector<FileEntry> list_dir(const std::string& sandbox_id, const std::string& path) = 0;
  virtual FileEntry stat(const std::string& sandbox_id, const std::string& path) = 0;
  virtual void remove(const std::string& sandbox_id, const std::string& path, bool recursive) = 0;
  virtual void make_dir(const std::string& sandbox_id, const std::string& path) = 0;
  // Writes a complete snapshot into snapshot_dir (the caller makes it atomic).
  virtual void snapshot(const std::string& sandbox_id, const std::string& snapshot_dir) = 0;
  virtual void kill(const std::string& sandbox_id) = 0;
  virtual bool alive(const std::string& sandbox_id) = 0;
  // Sandbox ids whose sentries are alive (for re-adoption after a cryod restart).
  virtual std::vector<std::string> running() = 0;
};

// Engine (and service) errors; the HTTP layer maps them to 404/400/409/504.
class NotFound : public cryo::Error {
 public:
  using cryo::Error::Error;
};
class BadRequest : public cryo::Error {
 public:
  using cryo::Error::Error;
};
class Conflict : public cryo::Error {
 public:
  using cryo::Error::Error;
};
class Timeout : public cryo::Error {
 public:
  using cryo::Error::Error;
};

// The production engine; defined by the sandbox machinery (see default_engine.cc).
std::unique_ptr<SandboxEngine> make_default_engine(const std::string& state_dir);

}  // namespace cryo::service
