#include "runtime/process/init.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "base/error.h"
#include "base/file.h"
#include "runtime/hooks.h"
#include "runtime/process/console.h"
#include "runtime/process/credentials.h"
#include "runtime/process/launch.h"
#include "runtime/process/seccomp.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace cryo::runtime {
namespace {

void join_namespace(const NamespaceJoin& j) {
  UniqueFd fd(::open(j.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open namespace `" + j.path + "`");
  if (::setns(fd.get(), j.type) != 0) throw_errno("join namespace `" + j.path + "`");
}

void apply_sysctls(const std::map<std::string, std::string>& sysctl) {
  for (auto& [key, value] : sysctl) {
    std::string path = "/proc/sys/" + key;
    for (size_t i = 10; i < path.size(); ++i)
      if (path[i] == '.') path[i] = '/';
    write_existing_file(path, value);
  }
}

void set_names(const oci::Spec& spec) {
  if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
    throw_errno("sethostname `" + spec.hostname + "`");
  if (!spec.domainname.empty() && ::setdomainname(spec.domainname.data(), spec.domainname.size()) != 0)
    throw_errno("setdomainname `" + spec.domainname + "`");
}

void check_lsm(const oci::Process& p) {
  if (!p.apparmor_profile.empty() && !path_exists("/sys/kernel/security/apparmor"))
    throw Error("process.apparmorProfile `" + p.apparmor_profile + "`: AppArmor is not enabled on this host");
  if (!p.selinux_label.empty() && !path_exists("/sys/fs/selinux/enforce"))
    throw Error("process.selinuxLabel `" + p.selinux_label + "`: SELinux is not enabled on this host");
}

// A new session, with the console as its controlling terminal when process.terminal.
void start_session(const oci::Process& proc, int console_fd) {
  if (::setsid() < 0) throw_errno("setsid");
  if (!proc.terminal) return;
  auto size = proc.console_size.value_or(oci::ConsoleSize{});
  setup_console(console_fd, size.height, size.width);
  ::close(console_fd);
}

// Sysctls are written through /proc, the console comes from /dev/ptmx and the exec fifo is
// reopened through /proc/self/fd: with a mount namespace, the container's own, once inside its
// root. Without one the root has neither (nothing is mounted for it), so the host's are used from
// before the chroot: sysctl values still land in the container's namespaces, which the writer is
// in. Returns the host's /proc/self/fd in that case (for wait_for_start), else nothing.
UniqueFd enter_container_root(const InitOptions& o) {
  const oci::Spec& spec = *o.spec;
  if (!o.rootfs.mount_namespace) {
    apply_sysctls(spec.linux.sysctl);
    start_session(*spec.process, o.console_fd);
    UniqueFd own_fds = open_or_throw("/proc/self/fd", O_PATH | O_DIRECTORY);
    enter_rootfs(o.rootfs);
    rebind_null_stdio();
    return own_fds;
  }
  enter_rootfs(o.rootfs);
  apply_sysctls(spec.linux.sysctl);  // before readonlyPaths make /proc/sys read-only, as runc
  finish_rootfs(spec);
  rebind_null_stdio();
  start_session(*spec.process, o.console_fd);
  return {};
}

struct BuiltContainer {
  std::string executable;
  bool seccomp_loaded = false;
  nlohmann::json state;  // as cryo sent it for the hooks
  UniqueFd own_fds;      // the host's /proc/self/fd when the root has no /proc (enter_container_root)
};

// Everything up to "ready".
BuiltContainer build_container(const InitOptions& o, SyncChannel& sync) {
  const oci::Spec& spec = *o.spec;
  const oci::Process& proc = *spec.process;
  sync.expect("go", "cryo");
  if (o.clone_flags & CLONE_NEWUSER) {
    // The maps are written: become root of the new user namespace.
    if (::setresgid(0, 0, 0) != 0) throw_errno("setresgid 0 in the user namespace");
    if (::setresuid(0, 0, 0) != 0) throw_errno("setresuid 0 in the user namespace");
  }
  for (auto& j : o.joins) join_namespace(j);
  if (o.unshare_flags && ::unshare(o.unshare_flags) != 0) throw_errno("unshare namespaces");
  check_capabilities_grantable(proc);
  set_names(spec);
  prepare_rootfs(spec, o.rootfs);

  sync.send("hooks");
  nlohmann::json state = nlohmann::json::parse(sync.expect("hooks-done", "cryo").payload);
  run_hooks(spec.hooks.create_container, "createContainer", state);
  UniqueFd own_fds = enter_container_root(o);
  enter_cwd(proc);
  apply_rlimits(proc.rlimits);
  check_lsm(proc);
  std::string exe = resolve_executable(proc);

  bool early = seccomp_loads_early(proc, spec.linux.seccomp);
  UniqueFd listener;
  if (early) listener = load_seccomp(*spec.linux.seccomp);
  ::prctl(PR_SET_PDEATHSIG, 0);  // cryo create exits after "ready"; we live on
  sync.send("ready", "", listener.get());
  return {exe, early, state, std::move(own_fds)};
}

// Blocks until `cryo start` opens the exec fifo for reading; returns our write end. The O_PATH
// fd is reopened through /proc/self/fd, or through `own_fds` (that directory) when given.
UniqueFd wait_for_start(int fifo_fd, UniqueFd own_fds) {
  std::string name = std::to_string(fifo_fd);
  UniqueFd fifo(own_fds ? ::openat(own_fds.get(), name.c_str(), O_WRONLY | O_CLOEXEC)
                        : ::open(("/proc/self/fd/" + name).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fifo) throw_errno("open exec fifo");
  ::close(fifo_fd);
  return fifo;
}

[[noreturn]] void container_init(const InitOptions& o, SyncChannel& sync) noexcept {
  BuiltContainer built;
  try {
    reset_signals();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with cryo while it is still setting us up
    built = build_container(o, sync);
  } catch (const std::exception& e) {
    try {
      sync.send("error", e.what());
    } catch (...) {
    }
    ::_exit(1);
  }
  sync.close();
  try {
    UniqueFd fifo = wait_for_start(o.fifo_fd, std::move(built.own_fds));
    const oci::Spec& spec = *o.spec;
    // Still "created": the user's program has not been executed yet (runtime-spec lifecycle).
    built.state["status"] = "created";
    run_hooks(spec.hooks.start_container, "startContainer", built.state);
    // `cryo start` reads this byte, then waits for EOF: the fifo closes on exec, so its
    // poststart hooks run after startContainer and after the workload started (runtime-spec).
    write_all(fifo.get(), "0", 1, "write exec fifo");
    fifo.release();
    finish_and_exec(*spec.process, built.executable, spec.linux.seccomp, built.seccomp_loaded, o.preserve_fds);
  } catch (const std::exception& e) {
    std::cerr << "cryo init: " << e.what() << std::endl;
    ::_exit(127);
  }
}

}  // namespace

// unshare(CLONE_NEWTIME) moves our future children, not us, into a new time namespace; its
// offsets can only be written before any process lives in it.
void enter_new_time_namespace(const std::map<std::string, oci::TimeOffset>& offsets) {
  if (::unshare(CLONE_NEWTIME) != 0) throw_errno("unshare the time namespace");
  std::string text;
  for (auto& [clock, o] : offsets) text += clock + " " + std::to_string(o.secs) + " " + std::to_string(o.nanosecs) + "\n";
  if (!text.empty()) write_existing_file("/proc/self/timens_offsets", text);
}

void plan_namespaces(const oci::Spec& spec, InitOptions& opts) {
  const oci::Namespace* user = spec.linux.find_namespace("user");
  bool join_user = user && !user->path.empty();
  if (join_user) opts.joins.push_back({CLONE_NEWUSER, user->path});
  for (auto& ns : spec.linux.namespaces) {
    int flag = *oci::namespace_clone_flag(ns.type);
    if (flag == CLONE_NEWUSER) {
      if (!join_user) opts.clone_flags |= flag;
    } else if (flag == CLONE_NEWTIME && ns.path.empty()) {
      opts.new_time_ns = true;  // clone()'s low byte is the exit signal: CLONE_NEWTIME cannot go there
    } else if (!ns.path.empty()) {
      if (flag != CLONE_NEWPID && flag != CLONE_NEWTIME) opts.joins.push_back({flag, ns.path});
    } else if ((join_user && flag != CLONE_NEWPID && flag != CLONE_NEWTIME) || flag == CLONE_NEWCGROUP) {
      // Owned by a joined user namespace; or (cgroup) rooted at the container's cgroup, which
      // the init joins only after the clone.
      opts.unshare_flags |= flag;
    } else {
      opts.clone_flags |= flag;
    }
  }
}

pid_t spawn_container_init(const InitOptions& opts, SyncChannel& child_end, SyncChannel& parent_end) {
  // Joined pid/time namespaces apply to children: enter them for the clone, then come back.
  std::vector<std::pair<UniqueFd, int>> restore;
  for (auto& ns : opts.spec->linux.namespaces) {
    int flag = *oci::namespace_clone_flag(ns.type);
    if (ns.path.empty() || (flag != CLONE_NEWPID && flag != CLONE_NEWTIME)) continue;
    const char* own = flag == CLONE_NEWPID ? "/proc/self/ns/pid" : "/proc/self/ns/time";
    restore.emplace_back(UniqueFd(::open(own, O_RDONLY | O_CLOEXEC)), flag);
    join_namespace({flag, ns.path});
  }
  if (opts.new_time_ns) {
    restore.emplace_back(UniqueFd(::open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC)), CLONE_NEWTIME);
    enter_new_time_namespace(opts.spec->linux.time_offsets);
  }
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, opts.clone_flags | SIGCHLD, nullptr, nullptr, nullptr, 0));
  int err = errno;
  if (pid == 0) {
    parent_end.close();
    if (opts.lock_fd >= 0) ::close(opts.lock_fd);
    container_init(opts, child_end);
  }
  for (auto& [fd, flag] : restore) ::setns(fd.get(), flag);
  if (pid < 0) throw SysError(err, "clone the container init");
  child_end.close();
  return pid;
}

}  // namespace cryo::runtime
