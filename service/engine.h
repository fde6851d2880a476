// The boundary between cryod and the sandbox machinery. cryod (HTTP, catalogue, timeouts) only talks
// to this interface; the sentry-backed engine implements it, tests use doubles.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "sentry/supervision_rule.h"

namespace cryo::service {

// The default size of a sandbox's writable layer (its root's overlay upper, on a tmpfs).
inline constexpr int64_t kDefaultDiskBytes = int64_t{2048} << 20;

struct Limits {
  int64_t memory_bytes = 0;  // 0 = unlimited
  int64_t pids = 0;
  double cpus = 0;
  // What the sandbox can write to its root filesystem. 0: kDefaultDiskBytes for a fresh sandbox,
  // the snapshot's own size for one restored from a snapshot. Never unlimited: the writable layer
  // is memory, charged to the sandbox's memory cgroup.
  int64_t disk_bytes = 0;
};

// The size of a fresh sandbox's writable layer: limits.disk_bytes, or the default.
inline int64_t writable_layer_bytes(const Limits& limits) {
  return limits.disk_bytes > 0 ? limits.disk_bytes : kDefaultDiskBytes;
}

// An image imported into the engine's layer store (see SandboxEngine::import_image).
struct ImageInfo {
  std::string name;                 // the catalogue's name for it
  std::string digest;               // the image config's digest: the image's identity
  std::vector<std::string> layers;  // layer store digests, bottom-most first
  std::vector<std::string> env;     // from the image config: "K=V"
  std::vector<std::string> entrypoint, cmd;
  std::string working_dir, user;
  int64_t size_bytes = 0;  // bytes of the stored layer tars
};

struct SandboxSpec {
  std::string image = "default";
  std::optional<ImageInfo> image_info;  // set by the service when `image` is an imported image
  std::map<std::string, std::string> env;
  std::string cwd = "/";
  Limits limits;
  bool network = false;
  std::map<std::string, std::string> metadata;
  std::string snapshot_dir;  // empty: fresh; else restore from this snapshot directory
  std::vector<sentry::SupervisionRule> supervise;  // system calls its sentry decides
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

// One overlay lower dir of a snapshot, described without host paths so that another engine (state
// dir, machine) can find its own copy. kind: "default" (the built-in default image), "init" (the
// engine's init layer for imported images), "layer" (a layer of an imported image), "diff" (the
// rootfs diff of an earlier snapshot the sandbox was restored from).
struct PortableLower {
  std::string kind;
  std::string digest;   // layer, diff
  std::string version;  // default, init: the engine's build of it
};

// What a snapshot directory needs besides itself.
struct SnapshotDeps {
  std::vector<PortableLower> lowers;              // top-most first
  std::map<std::string, std::string> layer_tars;  // digest -> tar on this host, for layer and diff lowers
};

// What still needs stored layers, as the service's catalogue knows it (see prune_layers).
struct LayerUsers {
  std::set<std::string> image_layers;      // the layers of every image in the catalogue
  std::vector<std::string> snapshot_dirs;  // every snapshot in the catalogue
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
  // The supervisor's audit log (JSON lines, oldest first); "" when there is none.
  virtual std::string audit_log(const std::string& sandbox_id);
  // Sandbox ids whose sentries are alive (for re-adoption after a cryod restart).
  virtual std::vector<std::string> running() = 0;

  // ---- images and portable snapshots (optional: the defaults say "not supported") ----

  // Stores the layers of an OCI image layout (directory or tar) or a `docker save` archive at
  // `path` (verified by digest, each layer once); returns the image without a name.
  virtual ImageInfo import_image(const std::string& path);
  // Drops stored layers no image uses any more (the caller knows which).
  virtual void remove_layers(const std::vector<std::string>& digests);
  // The lowers and layer tars a snapshot directory written by snapshot() depends on.
  virtual SnapshotDeps snapshot_dependencies(const std::string& snapshot_dir);
  // Makes a snapshot directory exported by another engine usable here: stores the carried layer
  // tars (digest -> file) and rewrites the recorded lower dirs to this engine's. Returns the
  // digests it added to the image layer store (for rollback with remove_layers).
  virtual std::vector<std::string> adopt_snapshot(const std::string& snapshot_dir, const std::vector<PortableLower>& lowers,
                                                  const std::map<std::string, std::string>& layer_tars);
  // Mark and sweep of the stored layers (image layers and snapshot diff layers): removes those
  // that are not in users.image_layers, not the diff or a lower of a snapshot in
  // users.snapshot_dirs, and not a lower of a running sandbox's root. Returns the digests removed.
  // The caller keeps images, snapshots and sandboxes from being made meanwhile. Throws, having
  // removed nothing, when a snapshot's dependencies cannot be read.
  virtual std::vector<std::string> prune_layers(const LayerUsers& users);
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
