// The container engine: one function per lifecycle operation, as the `cryo` CLI exposes them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "oci/state.h"

namespace cryo::runtime {

struct GlobalOptions {
  std::string root = "/run/cryo";
  std::string criu;  // empty: /usr/local/sbin/criu, else criu on PATH
};

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
  bool no_pivot = false;
  bool no_new_keyring = false;
};

// create: the container is set up and its init waits for `start`.
void container_create(const GlobalOptions& g, const CreateOptions& o);
void container_start(const GlobalOptions& g, const std::string& id);
// run: create + start; in the foreground, waits and returns the exit code (128+signal), then deletes.
int container_run(const GlobalOptions& g, const CreateOptions& o, bool detach);

struct ExecOptions {
  std::string id;
  oci::Process process;
  std::string console_socket;
  std::string pid_file;
  int preserve_fds = 0;
  bool detach = false;
};
// Builds the process of `exec` from the container's own config, as runc does for CLI flags.
oci::Process exec_process_from_config(const GlobalOptions& g, const std::string& id);
int container_exec(const GlobalOptions& g, const ExecOptions& o);

void container_kill(const GlobalOptions& g, const std::string& id, int signal, bool all);
void container_delete(const GlobalOptions& g, const std::string& id, bool force);
void container_pause(const GlobalOptions& g, const std::string& id);
void container_resume(const GlobalOptions& g, const std::string& id);
void container_update(const GlobalOptions& g, const std::string& id, const oci::Resources& r);

// checkpoint: freeze, dump the process tree with CRIU (optionally leaving it running), store the
// overlay root's upper-dir diff as a layer, thaw. The image is complete only once
// cryo-checkpoint.json is written (last).
struct CheckpointOptions {
  std::string id;
  std::string image_path = "checkpoint";
  std::string work_path;  // CRIU's log and scratch; default: the image path
  std::string parent_path;
  bool leave_running = false;
  bool tcp_established = false, tcp_skip_in_flight = false, ext_unix_sk = false, shell_job = false;
  bool file_locks = false, link_remap = false, pre_dump = false, auto_dedup = false, lazy_pages = false;
  std::string manage_cgroups_mode;  // soft|full|strict|ignore; empty: cryo's default
  std::string page_server;          // ADDRESS:PORT
  int status_fd = -1;
  std::vector<std::string> empty_ns;
};
void container_checkpoint(const GlobalOptions& g, const CheckpointOptions& o);

// restore: a container (any id, so several clones from one image side by side) whose processes
// resume from the image. With a checkpoint of an overlay root and an empty bundle rootfs
// directory, the rootfs becomes a new overlay: the image's lower layers plus the diff layer
// below a fresh upper directory. With the annotation kUpperSizeAnnotation in config.json that
// upper directory (and its work directory) lives on a private tmpfs of that many bytes, so the
// container's writes are bounded and never reach the host disk.
inline constexpr const char* kUpperSizeAnnotation = "run.cryo.rootfs.upper-size-bytes";
struct RestoreOptions {
  std::string id;
  std::string image_path = "checkpoint";
  std::string work_path;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  bool detach = false;
  bool no_subreaper = false, no_pivot = false;
  bool tcp_established = false, ext_unix_sk = false, shell_job = false, file_locks = false, lazy_pages = false;
  std::string manage_cgroups_mode;
  std::vector<std::string> empty_ns;
};
// Returns the exit code in the foreground (like run), 0 when detached.
int container_restore(const GlobalOptions& g, const RestoreOptions& o);

// Where restored overlay roots find their diff layers (shared by all clones).
std::string layer_store_root(const GlobalOptions& g);

struct ContainerInfo {
  oci::State state;
  std::string rootfs, created, owner;
};
ContainerInfo container_state(const GlobalOptions& g, const std::string& id);
std::vector<ContainerInfo> container_list(const GlobalOptions& g);
std::vector<pid_t> container_pids(const GlobalOptions& g, const std::string& id);
// runc's `events --stats` object: {"type":"stats","id":...,"data":{...}}.
nlohmann::json container_stats(const GlobalOptions& g, const std::string& id);

// runc's `state` JSON (the spec's state plus rootfs, created, owner).
nlohmann::json info_json(const ContainerInfo& info);
int parse_signal(const std::string& name);  // "KILL", "SIGKILL", "9"

}  // namespace cryo::runtime
