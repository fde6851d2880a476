// The sentry engine itself and its sandboxes' lifecycle: creating a sandbox (fresh or from a
// snapshot) under its own sentry, killing it, finding the running ones, and cleaning up after the
// dead ones when an engine starts.
#include "service/sentry_engine.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <thread>

#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/writable_layer.h"
#include "runtime/container.h"
#include "runtime/state_store.h"
#include "sentry/binaries.h"
#include "sentry/client.h"
#include "sentry/container.h"
#include "sentry/layout.h"
#include "sentry/spawn.h"
#include "sentry/supervisor.h"
#include "service/sandbox_config.h"
#include "service/sandbox_image.h"
#include "service/sentry_engine_internal.h"
#include "service/snapshot_manifest.h"

namespace cryo::service {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using sentry::SandboxPaths;
using sentry::SentryConfig;

constexpr auto kCreateTimeout = 60s;
constexpr auto kRestoreTimeout = 180s;
constexpr auto kKillTimeout = 120s;
constexpr auto kPingTimeout = 5s;

void validate_id(const std::string& id) {
  try {
    runtime::validate_container_id(id);
  } catch (const Error& e) {
    throw BadRequest(std::string("sandbox id: ") + e.what());
  }
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return errno == ESRCH;
  UniqueFd pidfd(static_cast<int>(fd));
  pollfd p{pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

std::optional<pid_t> read_pid(const std::string& path) {
  auto text = read_file_if_exists(path);
  if (!text) return std::nullopt;
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (...) {
    return std::nullopt;
  }
}

json spec_json(const SandboxSpec& s) {
  return {{"image", s.image},
          {"supervise", sentry::to_json(s.supervise)},
          {"env", s.env},
          {"cwd", s.cwd},
          {"limits",
           {{"memory_bytes", s.limits.memory_bytes},
            {"pids", s.limits.pids},
            {"cpus", s.limits.cpus},
            {"disk_bytes", s.limits.disk_bytes}}},
          {"network", s.network},
          {"metadata", s.metadata}};
}

// The restore's writable layer: the snapshot's size (its config carries it) unless the caller
// asks for another; snapshots from before disk limits get the default rather than the host disk.
void set_restored_layer_size(json& config, const Limits& limits) {
  json& annotations = config["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  if (limits.disk_bytes > 0 || !annotations.contains(runtime::kUpperSizeAnnotation))
    annotations[runtime::kUpperSizeAnnotation] = std::to_string(writable_layer_bytes(limits));
}

// The pid of a live `cryo-sentry --sandbox-dir DIR`, or 0.
pid_t sentry_process_of(const std::string& dir) {
  const std::string needle = std::string("--sandbox-dir") + '\0' + dir + '\0';
  pid_t found = 0;
  DIR* d = ::opendir("/proc");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    auto cmd = read_file_if_exists("/proc/" + std::string(e->d_name) + "/cmdline");
    if (cmd && cmd->find(needle) != std::string::npos) found = static_cast<pid_t>(pid);
  }
  if (d) ::closedir(d);
  return found;
}

// Like sentry_process_of, but for a sandbox made in the last seconds also waits briefly: its
// sentry may still be between the fork of its starter and its exec when cryod died.
pid_t sentry_process_of_young(const std::string& dir) {
  struct stat st;
  bool young = ::stat(dir.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime < 30;
  auto deadline = std::chrono::steady_clock::now() + (young ? 2s : 0s);
  for (;;) {
    if (pid_t pid = sentry_process_of(dir); pid > 0) return pid;
    if (std::chrono::steady_clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

SentryEngine::SentryEngine(std::string state_dir, SentryEngineOptions opts)
    : sandboxes_(state_dir + "/sandboxes"),
      images_(state_dir + "/images"),
      run_(state_dir + "/run"),
      layers_root_(state_dir + "/layers") {
  ::signal(SIGPIPE, SIG_IGN);
  opts_.sentry_binary =
      opts.sentry_binary.empty() ? sentry::sibling_binary("cryo-sentry", "CRYO_SENTRY") : opts.sentry_binary;
  opts_.init_binary =
      opts.init_binary.empty() ? sentry::sibling_binary("cryo-sandbox-init", "CRYO_SANDBOX_INIT") : opts.init_binary;
  make_dirs(state_dir, 0700);
  make_dirs(sandboxes_, 0700);
  make_dirs(run_, 0700);
  reap_dead_sandboxes();
}

SentryEngine::~SentryEngine() {
  std::vector<std::shared_ptr<Background>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(bg_);
  }
  for (auto& b : all) {
    b->abandoned = true;
    b->conn->shutdown();
  }
  for (auto& b : all)
    if (b->thread.joinable()) b->thread.join();
}

void SentryEngine::create(const std::string& id, const SandboxSpec& spec) {
  validate_id(id);
  SandboxPaths p{sandboxes_ + "/" + id};
  if (::mkdir(p.dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) throw Conflict("sandbox `" + id + "` already exists");
    throw_errno("create `" + p.dir + "`");
  }
  try {
    if (spec.snapshot_dir.empty())
      create_fresh(id, spec, p);
    else
      create_restored(id, spec, p);
  } catch (...) {
    discard(id, p);
    throw;
  }
}

void SentryEngine::kill(const std::string& id) {
  // Two kills of one sandbox must not race (the second would find a sentry already exiting):
  // the second waits and then finds the sandbox gone.
  std::lock_guard kill_lock(kill_mu_);
  SandboxPaths p = existing(id);
  auto sentry_pid = read_pid(p.pid_file());
  std::string failure;
  try {
    sentry::sentry_call(p.socket(), {{"op", "kill"}}, kKillTimeout);
  } catch (const sentry::SentryUnreachable&) {
    // No sentry (crashed, or the sandbox died): clean up what it would have.
    try {
      sentry::tear_down(sentry::load_sentry_config(p), p);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (sentry_pid && !wait_for_exit(*sentry_pid, 10s)) ::kill(*sentry_pid, SIGKILL);
  join_background(id);
  if (!failure.empty()) throw Error("kill sandbox `" + id + "`: " + failure);
  discard(id, p);
}

std::string SentryEngine::audit_log(const std::string& id) {
  SandboxPaths p = existing(id);
  return read_file_if_exists(p.audit_log()).value_or("");
}

bool SentryEngine::alive(const std::string& id) {
  try {
    validate_id(id);
  } catch (const BadRequest&) {
    return false;
  }
  return ping(SandboxPaths{sandboxes_ + "/" + id});
}

std::vector<std::string> SentryEngine::running() {
  std::vector<std::string> out;
  DIR* d = ::opendir(sandboxes_.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (ping(SandboxPaths{sandboxes_ + "/" + name})) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void SentryEngine::create_fresh(const std::string& id, const SandboxSpec& spec, const SandboxPaths& p) {
  validate_spec(spec);
  fsimage::OverlayConfig overlay;
  std::string cwd = spec.cwd.empty() ? "/" : spec.cwd;
  if (spec.image_info) {
    // An imported image: its layers (top-most first) under the layer holding the sandbox init.
    const ImageInfo& img = *spec.image_info;
    if (img.layers.empty()) throw BadRequest("image `" + spec.image + "` has no layers");
    fsimage::LayerStore store(layers_root_);
    overlay.lowers.push_back(ensure_init_layer(images_, opts_.init_binary));
    for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) {
      if (!store.has(*it)) throw Error("image `" + spec.image + "`: layer " + *it + " is missing from the layer store");
      overlay.lowers.push_back(store.dir_for(*it));
    }
    if (cwd == "/" && !img.working_dir.empty() && img.working_dir[0] == '/') cwd = img.working_dir;
  } else {
    if (spec.image != "default" && !spec.image.empty())
      throw BadRequest("image `" + spec.image + "` is not known (only `default` is available)");
    overlay.lowers = {ensure_default_image(images_, opts_.init_binary)};
  }
  make_dirs(p.rootfs(), 0755);
  if (!spec.supervise.empty()) {
    try {
      sentry::supervision_rules_from_json(sentry::to_json(spec.supervise));
    } catch (const Error& e) {
      throw BadRequest(e.what());
    }
  }
  json config = make_sandbox_config(id, spec, p.supervisor_socket());
  write_file_atomic(p.bundle() + "/config.json", config.dump(2) + "\n", 0600);
  // Writes to the root go to a tmpfs of the sandbox's disk size, charged to its memory cgroup,
  // not to the host disk.
  fsimage::WritableLayer layer(p.layer(), static_cast<uint64_t>(writable_layer_bytes(spec.limits)));
  overlay.upper = layer.upper();
  overlay.work = layer.work();
  // The mounts belong to the sandbox, not to this engine: the sentry (or kill) unmounts them.
  fsimage::OverlayMount(overlay, p.rootfs()).release();
  layer.release();
  SentryConfig cfg;
  cfg.id = id;
  cfg.runtime_root = run_;
  cfg.cwd = cwd;
  cfg.spec = spec_json(spec);
  if (!spec.supervise.empty()) cfg.supervise = sentry::to_json(spec.supervise);
  write_file_atomic(p.config(), sentry::to_json(cfg).dump(2) + "\n", 0600);
  sentry::spawn_sentry(opts_.sentry_binary, p.dir, kCreateTimeout);
}

void SentryEngine::create_restored(const std::string& id, const SandboxSpec& spec, const SandboxPaths& p) {
  auto text = read_file_if_exists(spec.snapshot_dir + "/sandbox.json");
  if (!text) throw NotFound("snapshot `" + spec.snapshot_dir + "` has no sandbox.json");
  json rec = json::parse(*text);
  std::string image = spec.snapshot_dir + "/criu";
  if (!path_exists(image + "/cryo-checkpoint.json"))
    throw Error("snapshot `" + spec.snapshot_dir + "`: the checkpoint image is incomplete");
  verify_snapshot_manifest(spec.snapshot_dir);
  // An empty rootfs: cryo's restore mounts the image's layers, the snapshot's diff and a fresh
  // upper on it.
  make_dirs(p.rootfs(), 0755);
  json config = rec.at("config");
  set_restored_layer_size(config, spec.limits);
  // Commands in the clone send their listeners to the clone's own sentry.
  set_supervisor_socket(config, p.supervisor_socket());
  write_file_atomic(p.bundle() + "/config.json", config.dump(2) + "\n", 0600);
  SentryConfig cfg;
  cfg.id = id;
  cfg.runtime_root = run_;
  cfg.mode = "restore";
  cfg.restore_image = image;
  cfg.cwd = rec.value("cwd", "/");
  cfg.spec = rec.value("spec", json::object());
  cfg.spec["restored_from"] = spec.snapshot_dir;
  if (cfg.spec.contains("supervise") && !cfg.spec["supervise"].empty()) cfg.supervise = cfg.spec["supervise"];
  write_file_atomic(p.config(), sentry::to_json(cfg).dump(2) + "\n", 0600);
  sentry::spawn_sentry(opts_.sentry_binary, p.dir, kRestoreTimeout);
}

// A sandbox whose sentry does not answer when an engine starts is dead: its creator (a cryod
// killed mid-create) or its sentry died. Tear down what it left (container, cgroups, mounts) and
// remove its directory, as kill() does for an unreachable sentry; otherwise nobody ever would.
void SentryEngine::reap_dead_sandboxes() {
  DIR* d = ::opendir(sandboxes_.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (std::string n = e->d_name; n != "." && n != "..") names.push_back(n);
  ::closedir(d);
  for (auto& name : names) {
    SandboxPaths p{sandboxes_ + "/" + name};
    if (ping(p)) continue;
    if (pid_t pid = sentry_process_of_young(p.dir); pid > 0) {
      // A sentry still bringing its sandbox up (its cryod died meanwhile): let it finish and
      // adopt the sandbox, or stop it when it does not come up.
      auto deadline = std::chrono::steady_clock::now() + 20s;
      while (!ping(p) && !wait_for_exit(pid, 100ms) && std::chrono::steady_clock::now() < deadline) {
      }
      if (ping(p)) continue;
      ::kill(pid, SIGKILL);
      wait_for_exit(pid, 5s);
    }
    try {
      if (path_exists(p.config())) sentry::tear_down(sentry::load_sentry_config(p), p);
      discard(name, p);
    } catch (const std::exception& e) {
      ::fprintf(stderr, "cryo engine: cleaning up dead sandbox %s: %s\n", name.c_str(), e.what());
    }
  }
}

// Removes what is left of a sandbox directory (its rootfs, then its writable layer, unmounted
// first: remove_tree would otherwise empty a mounted layer and then fail on the mountpoint).
void SentryEngine::discard(const std::string& id, const SandboxPaths& p) {
  try {
    sentry::unmount_all(p.rootfs());
    sentry::unmount_all(p.layer());
  } catch (const std::exception& e) {
    throw Error("clean up sandbox `" + id + "`: " + e.what());
  }
  remove_tree(p.dir);
}

SandboxPaths SentryEngine::existing(const std::string& id) const {
  validate_id(id);
  SandboxPaths p{sandboxes_ + "/" + id};
  if (!path_exists(p.config())) throw NotFound("sandbox `" + id + "` not found");
  return p;
}

bool SentryEngine::ping(const SandboxPaths& p) const {
  if (!path_exists(p.socket())) return false;
  try {
    return sentry::sentry_call(p.socket(), {{"op", "ping"}}, kPingTimeout).value("ok", false);
  } catch (const std::exception&) {
    return false;
  }
}

std::unique_ptr<SandboxEngine> make_sentry_engine(const std::string& state_dir, SentryEngineOptions options) {
  return std::make_unique<SentryEngine>(state_dir, std::move(options));
}

}  // namespace cryo::service
