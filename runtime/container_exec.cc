// exec: start another process in a running container's namespaces, cgroup and security settings.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "runtime/container_internal.h"
#include "runtime/exec_launcher.h"
#include "runtime/process/console.h"
#include "runtime/process/credentials.h"
#include "runtime/process/launch.h"
#include "runtime/process/seccomp.h"
#include "runtime/process/sync.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace cryo::runtime {
namespace {

struct NsFd {
  int type;
  UniqueFd fd;
};

// The init's namespaces that differ from ours, user first and mount last (it hides /proc paths).
std::vector<NsFd> open_namespaces(pid_t pid) {
  static const std::pair<const char*, int> order[] = {
      {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
      {"pid", CLONE_NEWPID},   {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS}};
  std::vector<NsFd> out;
  for (auto& [name, type] : order) {
    std::string theirs = "/proc/" + std::to_string(pid) + "/ns/" + name;
    std::string ours = std::string("/proc/self/ns/") + name;
    struct stat a, b;
    if (::stat(theirs.c_str(), &a) != 0) continue;
    if (::stat(ours.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    out.push_back({type, open_or_throw(theirs, O_RDONLY)});
  }
  return out;
}

// A container without a mount namespace of its own is confined to its root by chroot alone, which
// setns cannot give: the init's root, opened before joining anything, is what a process chroots
// to. Empty for a container with a mount namespace (joining it enters the root).
UniqueFd root_to_chroot(const oci::Spec& spec, pid_t pid) {
  if (spec.linux.find_namespace("mount")) return {};
  return open_or_throw("/proc/" + std::to_string(pid) + "/root", O_PATH | O_DIRECTORY);
}

void chroot_to(int root_fd) {
  if (::fchdir(root_fd) != 0) throw_errno("enter the container's root");
  if (::chroot(".") != 0) throw_errno("chroot to the container's root");
  if (::chdir("/") != 0) throw_errno("chdir `/` in the container's root");
}

[[noreturn]] void exec_child(const ExecOptions& o, const oci::Spec& spec, std::vector<NsFd>& nss, UniqueFd& root,
                             const std::vector<std::string>& procs_files, int console_fd, SyncChannel& sync) noexcept {
  try {
    reset_signals();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Join the cgroup while its host path is still visible.
    for (auto& f : procs_files) write_existing_file(f, "0");
    for (auto& ns : nss)
      if (ns.type != CLONE_NEWPID && ns.type != CLONE_NEWTIME && ::setns(ns.fd.get(), ns.type) != 0)
        throw_errno("join the container's namespace");
    nss.clear();
    if (root) chroot_to(root.get());
    root.reset();
    rebind_null_stdio();
    if (::setsid() < 0) throw_errno("setsid");
    if (o.process.terminal) {
      auto size = o.process.console_size.value_or(oci::ConsoleSize{});
      setup_console(console_fd, size.height, size.width);
      ::close(console_fd);
    }
    enter_cwd(o.process);
    apply_rlimits(o.process.rlimits);
    std::string exe = resolve_executable(o.process);
    bool early = seccomp_loads_early(o.process, spec.linux.seccomp);
    if (early) {
      // A user-notification listener goes to cryo, which hands it to the spec's listenerPath;
      // the process itself must not keep it (it could answer its own notifications).
      UniqueFd listener = load_seccomp(*spec.linux.seccomp);
      if (listener) sync.send("seccomp-listener", "", listener.get());
    }
    if (o.detach) ::prctl(PR_SET_PDEATHSIG, 0);
    // The sync socket is close-on-exec: a successful execve reads as EOF on the other side.
    finish_and_exec(o.process, exe, spec.linux.seccomp, early, o.preserve_fds);
  } catch (const std::exception& e) {
    try {
      sync.send("error", e.what());
    } catch (...) {
    }
    ::_exit(127);
  }
}

// A launched process: exec_child's steps, minus the cgroups and namespaces it inherited.
[[noreturn]] void launched_child(const oci::Process& p, const std::array<int, 3>& stdio,
                                 const std::optional<oci::Seccomp>& seccomp, const std::optional<SeccompProgram>& program,
                                 int listener_sink, const std::string& error_prefix,
                                 const std::function<void()>& exec_first) noexcept {
  try {
    reset_signals();
    // The parent that reaps us; its death must not leave the command running unattended.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int fd = 0; fd < 3; ++fd)
      if (::dup2(stdio[fd], fd) < 0) throw_errno("set up fd " + std::to_string(fd) + " of the process");
    rebind_null_stdio();
    if (::setsid() < 0) throw_errno("setsid");
    enter_cwd(p);
    apply_rlimits(p.rlimits);
    std::string exe = resolve_executable(p);
    auto load = [&] {
      if (program) {
        load_seccomp_program(*program);
      } else if (seccomp) {
        // The listener goes to whoever supervises (see ExecLauncher::launch), never stays here.
        UniqueFd listener = load_seccomp(*seccomp);
        if (listener && listener_sink >= 0) send_fds(listener_sink, "seccomp-listener", {listener.get()});
      }
    };
    bool early = seccomp_loads_early(p, seccomp);
    if (early) load();
    std::function<void()> late;
    if (seccomp && !early) late = load;
    finish_and_exec_with(p, exe, late, 0, exec_first);
  } catch (const std::exception& e) {
    std::string msg = error_prefix + e.what() + "\n";
    ssize_t n = ::write(2, msg.data(), msg.size());
    (void)n;
  }
  ::_exit(127);
}

}  // namespace

ExecLauncher ExecLauncher::prepare(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  ExecLauncher l;
  std::vector<NsFd> nss;
  UniqueFd root;
  std::vector<std::string> procs_files;
  {
    LoadedContainer c = load_container(store, id);
    oci::Status status = c.status(store);
    if (status != oci::Status::Running && status != oci::Status::Created)
      throw Error("cannot exec in container `" + id + "`: it is " + oci::status_name(status));
    nss = open_namespaces(c.record.pid);
    root = root_to_chroot(c.spec, c.record.pid);
    procs_files = c.cgroup->procs_files();
    l.seccomp_ = c.spec.linux.seccomp;
  }
  if (l.seccomp_ && !has_notify_action(*l.seccomp_)) l.program_ = compile_seccomp_program(*l.seccomp_);
  // The order of exec: cgroups while their host paths are visible, pid and time (for the
  // children) as ourselves, then user first and mount last.
  for (auto& f : procs_files) write_existing_file(f, "0");
  for (auto& ns : nss)
    if ((ns.type == CLONE_NEWPID || ns.type == CLONE_NEWTIME) && ::setns(ns.fd.get(), ns.type) != 0)
      throw_errno("enter the container's pid or time namespace");
  for (auto& ns : nss)
    if (ns.type != CLONE_NEWPID && ns.type != CLONE_NEWTIME && ::setns(ns.fd.get(), ns.type) != 0)
      throw_errno("join the container's namespace");
  if (root) chroot_to(root.get());
  return l;
}

pid_t ExecLauncher::launch(const oci::Process& process, const std::array<int, 3>& stdio, unsigned long clone_flags,
                           const std::string& error_prefix, int listener_sink,
                           const std::function<void()>& exec_first) const {
  for (int fd : stdio)
    if (fd < 3) throw Error("launch: stdio fds must be above 2");  // dup2 would overwrite them
  // A plain fork with extra flags (glibc's fork cannot CLONE_PARENT): no new stack, copied memory.
  long pid = ::syscall(SYS_clone, SIGCHLD | clone_flags, nullptr, nullptr, nullptr, 0);
  if (pid == 0) launched_child(process, stdio, seccomp_, program_, listener_sink, error_prefix, exec_first);
  if (pid < 0) throw_errno("fork the command");
  return static_cast<pid_t>(pid);
}

oci::Process exec_process_from_config(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  ContainerRecord rec = store.load(id);
  oci::Spec spec = oci::parse_spec_json(rec.config);
  oci::Process p = *spec.process;
  p.terminal = false;
  p.args.clear();
  p.rlimits.clear();
  return p;
}

int container_exec(const GlobalOptions& g, const ExecOptions& o) {
  StateStore store(g.root);
  std::vector<NsFd> nss;
  UniqueFd root;
  std::vector<std::string> procs_files;
  oci::Spec spec;
  pid_t init;
  nlohmann::json state;  // for a seccomp listener handed to listenerPath
  {
    LoadedContainer c = load_container(store, o.id);
    oci::Status status = c.status(store);
    if (status != oci::Status::Running && status != oci::Status::Created)
      throw Error("cannot exec in container `" + o.id + "`: it is " + oci::status_name(status));
    init = c.record.pid;
    nss = open_namespaces(init);
    root = root_to_chroot(c.spec, init);
    procs_files = c.cgroup->procs_files();
    spec = c.spec;
    if (spec.linux.seccomp) compile_seccomp(*spec.linux.seccomp);
    if (spec.linux.seccomp && has_notify_action(*spec.linux.seccomp)) state = oci::state_json(c.oci_state(store));
  }
  if (o.process.terminal && o.console_socket.empty()) throw Error("exec --tty needs --console-socket");
  UniqueFd console;
  if (o.process.terminal) console = connect_console_socket(o.console_socket);

  // Joined pid/time namespaces apply to children: enter them for the fork, then come back.
  UniqueFd own_pid = open_or_throw("/proc/self/ns/pid", O_RDONLY);
  UniqueFd own_time(::open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC));
  for (auto& ns : nss)
    if ((ns.type == CLONE_NEWPID || ns.type == CLONE_NEWTIME) && ::setns(ns.fd.get(), ns.type) != 0)
      throw_errno("enter the container's pid namespace");

  if (!o.detach) ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  auto [parent_end, child_end] = SyncChannel::make_pair();
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) {
    parent_end.close();
    exec_child(o, spec, nss, root, procs_files, console.get(), child_end);
  }
  int err = errno;
  ::setns(own_pid.get(), CLONE_NEWPID);
  if (own_time) ::setns(own_time.get(), CLONE_NEWTIME);
  if (pid < 0) throw SysError(err, "fork the exec process");
  child_end.close();
  console.reset();
  // EOF means the process exec'd; otherwise it reports why it could not. A listener may come
  // first: it goes on to the listenerPath before the process runs anything.
  while (auto m = parent_end.try_receive("exec process")) {
    if (m->type == "seccomp-listener" && m->fd) {
      try {
        hand_out_listener(spec, state, m->fd.get());
        continue;
      } catch (const std::exception& e) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        sigprocmask(SIG_SETMASK, &old, nullptr);
        throw Error(std::string("hand the seccomp listener to linux.seccomp.listenerPath: ") + e.what());
      }
    }
    ::waitpid(pid, nullptr, 0);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    throw Error(m->payload);
  }
  write_pid_file(o.pid_file, pid);
  if (o.detach) return 0;

  // Forward signals until the process exits.
  int status = 0;
  for (;;) {
    siginfo_t si;
    int sig = ::sigwaitinfo(&all, &si);
    if (sig == SIGCHLD) {
      pid_t p;
      while ((p = ::waitpid(-1, &status, WNOHANG)) > 0)
        if (p == pid) return exit_code(status);
    } else if (sig > 0 && sig != SIGWINCH && sig != SIGURG) {
      ::kill(pid, sig);
    }
  }
}

}  // namespace cryo::runtime
