// create: set up a container whose init waits on the exec fifo for `start`.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/file.h"
#include "runtime/container_internal.h"
#include "runtime/hooks.h"
#include "runtime/process/console.h"
#include "runtime/process/init.h"
#include "runtime/process/seccomp.h"
#include "runtime/process/sync.h"

namespace cryo::runtime {
namespace {

void write_id_maps(pid_t pid, const oci::Spec& spec) {
  auto format = [](const std::vector<oci::IdMapping>& maps) {
    std::string out;
    for (auto& m : maps)
      out += std::to_string(m.container_id) + " " + std::to_string(m.host_id) + " " + std::to_string(m.size) + "\n";
    return out;
  };
  std::string proc = "/proc/" + std::to_string(pid);
  write_existing_file(proc + "/uid_map", format(spec.linux.uid_mappings));
  write_existing_file(proc + "/gid_map", format(spec.linux.gid_mappings));
}

// The host id that `container_id` maps to (itself without a user namespace).
uint32_t host_id(const std::vector<oci::IdMapping>& maps, uint32_t container_id) {
  for (auto& m : maps)
    if (container_id >= m.container_id && container_id - m.container_id < m.size)
      return m.host_id + (container_id - m.container_id);
  return container_id;
}

// The exec fifo, writable by the container's root (a mapped uid in a user namespace), as runc.
void make_exec_fifo(const std::string& path, const oci::Spec& spec) {
  if (::mkfifo(path.c_str(), 0622) != 0) throw_errno("mkfifo `" + path + "`");
  if (::chmod(path.c_str(), 0622) != 0) throw_errno("chmod `" + path + "`");
  if (!spec.linux.find_namespace("user")) return;
  uid_t uid = host_id(spec.linux.uid_mappings, 0);
  gid_t gid = host_id(spec.linux.gid_mappings, 0);
  if (::chown(path.c_str(), uid, gid) != 0) throw_errno("chown `" + path + "` to the container's root");
}

// Undoes a half-made container: nothing may be left behind on failure.
struct CreateRollback {
  const StateStore& store;
  std::string id;
  pid_t pid = 0;
  std::unique_ptr<Cgroup> cgroup;
  bool done = false;
  ~CreateRollback() {
    if (done) return;
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    try {
      if (cgroup && cgroup->exists()) cgroup->destroy();
    } catch (...) {
    }
    try {
      store.remove(id);
    } catch (...) {
    }
  }
};

int listen_fds_from_env() {
  const char* n = std::getenv("LISTEN_FDS");
  return n ? std::atoi(n) : 0;
}

}  // namespace

// Shared by create and run; returns the init's pid.
pid_t create_container(const GlobalOptions& g, const CreateOptions& o) {
  StateStore store(g.root);
  std::string bundle = real_path(o.bundle);
  oci::Spec spec = oci::load_spec(bundle);
  if (!spec.process) throw oci::SpecError(bundle + "/config.json: process: is required to create a container");
  if (spec.process->terminal && o.console_socket.empty())
    throw Error("process.terminal is set: --console-socket is required");
  if (spec.linux.seccomp) compile_seccomp(*spec.linux.seccomp);  // fail before anything exists
  std::string rootfs = spec.root_path[0] == '/' ? spec.root_path : bundle + "/" + spec.root_path;
  if (!path_exists(rootfs)) throw oci::SpecError(bundle + "/config.json: root.path: `" + rootfs + "` does not exist");
  rootfs = real_path(rootfs);

  ContainerLock lock = store.create(o.id);
  CreateRollback rollback{store, o.id};

  ContainerRecord rec;
  rec.id = o.id;
  rec.bundle = bundle;
  rec.rootfs = rootfs;
  rec.created = rfc3339_now();
  rec.cgroup_path = default_cgroup_path(spec, o.id);
  rec.config = nlohmann::json::parse(read_file(bundle + "/config.json"));
  rec.annotations = spec.annotations;

  make_exec_fifo(store.fifo_path(o.id), spec);
  UniqueFd fifo = open_or_throw(store.fifo_path(o.id), O_PATH);
  rollback.cgroup = cgroup_for(rec.cgroup_path);
  rollback.cgroup->create();
  // Every limit but the device rules applies from the start. The device rules wait until the init
  // has made the config's device nodes (runc orders it the same way): a rule that denies mknod,
  // such as the usual leading {"allow": false, "access": "rwm"}, would refuse linux.devices.
  if (spec.linux.resources) {
    oci::Resources early = *spec.linux.resources;
    early.devices.clear();
    rollback.cgroup->set(early);
  }

  UniqueFd console;
  if (spec.process->terminal) console = connect_console_socket(o.console_socket);

  InitOptions init;
  init.spec = &spec;
  init.rootfs = rootfs_options(spec, rootfs, bundle, o.no_pivot);
  init.fifo_fd = fifo.get();
  init.lock_fd = lock.fd();
  init.console_fd = console.get();
  int listen_fds = listen_fds_from_env();
  init.preserve_fds = o.preserve_fds + listen_fds;
  if (listen_fds > 0) {
    spec.process->env.push_back("LISTEN_FDS=" + std::to_string(listen_fds));
    spec.process->env.push_back("LISTEN_PID=1");
  }
  plan_namespaces(spec, init);

  auto [parent_end, child_end] = SyncChannel::make_pair();
  pid_t pid = spawn_container_init(init, child_end, parent_end);
  rollback.pid = pid;
  rec.pid = pid;

  if (init.clone_flags & CLONE_NEWUSER) write_id_maps(pid, spec);
  rollback.cgroup->add_process(pid);
  if (spec.process->oom_score_adj)
    write_existing_file("/proc/" + std::to_string(pid) + "/oom_score_adj", std::to_string(*spec.process->oom_score_adj));
  parent_end.send("go");

  parent_end.expect("hooks", "container init");
  if (spec.linux.resources && !spec.linux.resources->devices.empty()) {
    oci::Resources device_rules;
    device_rules.devices = spec.linux.resources->devices;
    rollback.cgroup->set(device_rules);
  }
  oci::State st{spec.oci_version, o.id, oci::Status::Creating, pid, bundle, spec.annotations};
  nlohmann::json state = oci::state_json(st);
  run_hooks(spec.hooks.prestart, "prestart", state);
  run_hooks(spec.hooks.create_runtime, "createRuntime", state);
  parent_end.send("hooks-done", state.dump());

  SyncMessage ready = parent_end.expect("ready", "container init");
  rec.pid_start_time = process_start_time(pid);
  if (ready.fd) hand_out_listener(spec, state, ready.fd.get());
  store.save(rec);
  write_pid_file(o.pid_file, pid);
  rollback.done = true;
  return pid;
}

void container_create(const GlobalOptions& g, const CreateOptions& o) { create_container(g, o); }

}  // namespace cryo::runtime
