// The sentry's command launcher: one child process per sandbox that has joined the sandbox's
// cgroups and namespaces once (runtime::ExecLauncher) and forks every command from there.
//
// Without it each command would fork a helper that loads the container's state, compiles the
// seccomp profile and joins the cgroups, which costs an RCU grace period per command (several
// milliseconds). The launcher forks with CLONE_PARENT, so each command is the sentry's own child:
// the sentry reaps it, signals its process group and sees its exit status directly. The command
// takes the same last steps as an exec'd one: same cgroups, namespaces, user, capabilities,
// no_new_privs, rlimits and seccomp filter.
//
// The launcher lives in our pid namespace (only its children enter the sandbox's), so nothing in
// the sandbox can see or signal it; it counts as one process in the sandbox's pids cgroup.
//
// Everything is asynchronous, so the sentry's loop never blocks on it (a frozen sandbox freezes
// the launcher too): requests go out on a SOCK_SEQPACKET socket with the command's stdio
// attached; replies come back in order, the first being the launcher's readiness.
#pragma once

#include <sys/types.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "base/fd.h"
#include "oci/spec.h"
#include "runtime/container.h"

namespace cryo::sentry {

class Launcher {
 public:
  struct Reply {
    bool ready = false;  // the first reply: the launcher has joined the sandbox
    pid_t pid = 0;       // a command was forked: its host pid
    std::string error;   // the launcher (first reply) or the fork failed
    int error_code = 0;  // errno of a failed fork (EAGAIN: the pids limit)
    UniqueFd listener;   // not a reply: a command's seccomp listener, for the supervisor
  };

  // Forks the launcher, which prepares itself in the background; its readiness is the first
  // reply. `base` is the process the requests fill in (caps, rlimits, no_new_privs, ...).
  static std::unique_ptr<Launcher> start(const runtime::GlobalOptions& g, const std::string& id,
                                         const oci::Process& base);
  // Closes the socket (the launcher exits on EOF) and SIGKILLs it; the sentry reaps it.
  ~Launcher();

  pid_t pid() const { return pid_; }
  int fd() const { return sock_.get(); }  // readable when a reply is waiting

  // Asks for `process` (argv, env, cwd and user; the rest is the base process) with these fds as
  // its stdio. False when the request cannot be sent (too large, launcher gone): use another way.
  bool request(const oci::Process& process, const std::array<int, 3>& stdio);
  // The next reply, if one is waiting. Throws when the launcher is gone (EOF).
  std::optional<Reply> read_reply();

 private:
  Launcher(pid_t pid, UniqueFd sock) : pid_(pid), sock_(std::move(sock)) {}
  pid_t pid_;
  UniqueFd sock_;
};

}  // namespace cryo::sentry
