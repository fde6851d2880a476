#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/file.h"
#include "base/proc.h"
#include "runtime/container_internal.h"
#include "runtime/cpu_colocation.h"
#include "runtime/hooks.h"
#include "runtime/process/console.h"

namespace cryo::runtime {

std::unique_ptr<Cgroup> cgroup_for(const std::string& cgroup_path) {
  return open_cgroup(host_cgroup_mounts(), cgroup_path, linux_syscalls());
}

std::string default_cgroup_path(const oci::Spec& spec, const std::string& id) {
  return spec.linux.cgroups_path.empty() ? "/cryo/" + id : spec.linux.cgroups_path;
}

LoadedContainer load_container(const StateStore& store, const std::string& id) {
  LoadedContainer c;
  c.lock = store.lock(id);
  c.record = store.load(id);
  c.spec = oci::parse_spec_json(c.record.config, store.dir(id) + "/state.json config");
  c.cgroup = cgroup_for(c.record.cgroup_path);
  recover_interrupted_checkpoint(store, c);
  return c;
}

std::string checkpoint_marker(const StateStore& store, const std::string& id) {
  return store.dir(id) + "/checkpointing";
}

namespace {

pid_t tracer_of(pid_t pid) {
  auto tracer = proc_status_field(pid, "TracerPid");
  return tracer ? std::atoi(tracer->c_str()) : 0;
}

void wait_until_untraced(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (tracer_of(pid) != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

}  // namespace

void recover_interrupted_checkpoint(const StateStore& store, LoadedContainer& c) {
  // A cryo killed mid-checkpoint leaves its marker: never leave the container frozen because of it.
  auto marker = read_file_if_exists(checkpoint_marker(store, c.record.id));
  if (!marker) return;
  pid_t owner = std::atoi(marker->c_str());
  if (owner > 0 && ::kill(owner, 0) == 0) return;  // still at work
  // Its criu may still be winding down the dump; it leaves the cgroup as it found it (frozen by
  // that cryo) before letting go of the tasks, so thaw only once it has let go.
  if (c.init_alive()) wait_until_untraced(c.record.pid, std::chrono::seconds(10));
  // The tasks' own CPU masks, if that cryo had put them on one CPU for the dump.
  if (auto eol = marker->find('\n'); eol != std::string::npos) restore_affinities(marker->substr(eol + 1));
  if (c.cgroup->exists() && c.cgroup->frozen()) c.cgroup->thaw();
  ::unlink(checkpoint_marker(store, c.record.id).c_str());
}

bool LoadedContainer::init_alive() const {
  return !record.stopped && record.pid > 0 && process_start_time(record.pid) == record.pid_start_time;
}

oci::Status LoadedContainer::status(const StateStore& store) const {
  if (!init_alive()) return oci::Status::Stopped;
  if (cgroup->frozen()) return oci::Status::Paused;
  if (path_exists(store.fifo_path(record.id))) return oci::Status::Created;
  return oci::Status::Running;
}

oci::State LoadedContainer::oci_state(const StateStore& store) const {
  oci::State s;
  s.oci_version = spec.oci_version;
  s.id = record.id;
  s.status = status(store);
  s.pid = s.status == oci::Status::Stopped ? 0 : record.pid;
  s.bundle = record.bundle;
  s.annotations = spec.annotations;
  return s;
}

void kill_all_and_wait(LoadedContainer& c) {
  if (!c.cgroup->exists()) return;
  bool was_frozen = c.cgroup->frozen();
  for (int round = 0; round < 1000; ++round) {
    auto pids = c.cgroup->pids();
    if (pids.empty()) return;
    for (pid_t p : pids) ::kill(p, SIGKILL);
    // A frozen task only dies once thawed.
    if (was_frozen && round == 0) c.cgroup->thaw();
    // Reap our own children (run in the foreground); others are reaped by their parent.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 20 ? 1 : 10));
  }
  throw Error("container `" + c.record.id + "`: processes survived SIGKILL");
}

void unmount_writable_layer(const std::string& overlay_dir) {
  if (::umount2(overlay_dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
    throw_errno("unmount the writable layer `" + overlay_dir + "`");
}

void destroy_container(const StateStore& store, LoadedContainer& c) {
  if (c.cgroup->exists()) {
    if (c.cgroup->frozen()) c.cgroup->thaw();
    c.cgroup->destroy();
  }
  if (!c.record.owned_rootfs_mount.empty()) {
    if (::umount2(c.record.owned_rootfs_mount.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      throw_errno("unmount `" + c.record.owned_rootfs_mount + "`");
    if (!c.record.owned_overlay_dir.empty()) {
      unmount_writable_layer(c.record.owned_overlay_dir);
      remove_tree(c.record.owned_overlay_dir);
    }
  }
  oci::State st = c.oci_state(store);
  st.status = oci::Status::Stopped;
  std::string id = c.record.id;
  store.remove(id);
  // poststop failures are warnings, not fatal: the container is already gone, and the other
  // poststop hooks still run (runtime-spec).
  run_hooks_warning_on_failure(c.spec.hooks.poststop, "poststop", oci::state_json(st));
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

void write_pid_file(const std::string& path, pid_t pid) {
  if (!path.empty()) write_file_atomic(path, std::to_string(pid), 0644);
}

int parse_signal(const std::string& name) {
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name[0]))) {
    int sig = std::stoi(name);
    if (sig > 0 && sig < NSIG) return sig;
    throw Error("invalid signal `" + name + "`");
  }
  std::string n = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && n == abbrev) return sig;
  }
  throw Error("unknown signal `" + name + "`");
}

nlohmann::json info_json(const ContainerInfo& info) {
  nlohmann::json j = oci::state_json(info.state);
  j["pid"] = info.state.pid;
  j["rootfs"] = info.rootfs;
  j["created"] = info.created;
  j["owner"] = info.owner;
  return j;
}

void hand_out_listener(const oci::Spec& spec, const nlohmann::json& state, int listener) {
  const auto& sc = *spec.linux.seccomp;
  nlohmann::json msg = {{"ociVersion", spec.oci_version}, {"fds", {"seccompFd"}}, {"pid", state["pid"]},
                        {"metadata", sc.listener_metadata}, {"state", state}};
  UniqueFd sock = connect_console_socket(sc.listener_path);
  send_fds(sock.get(), msg.dump(), {listener});
}

}  // namespace cryo::runtime
