// run: create + start; in the foreground cryo stays the init's parent, forwards signals,
// returns its exit status and deletes the container.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/container_internal.h"

namespace cryo::runtime {

pid_t create_container(const GlobalOptions& g, const CreateOptions& o);

void block_all_signals() {
  sigset_t set;
  sigfillset(&set);
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

// Waits for the init, forwarding the signals a user sends cryo; reaps other children too.
int wait_forwarding_signals(pid_t init) {
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGFPE);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  int sfd = ::signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0) throw_errno("signalfd");
  for (;;) {
    struct signalfd_siginfo si;
    if (::read(sfd, &si, sizeof si) != sizeof si) continue;
    if (si.ssi_signo == SIGCHLD) {
      int status;
      pid_t p;
      while ((p = ::waitpid(-1, &status, WNOHANG)) > 0)
        if (p == init) {
          ::close(sfd);
          return exit_code(status);
        }
      continue;
    }
    if (si.ssi_signo == SIGWINCH || si.ssi_signo == SIGURG) continue;
    ::kill(init, static_cast<int>(si.ssi_signo));
  }
}

int container_run(const GlobalOptions& g, const CreateOptions& o, bool detach) {
  if (!detach) {
    // Block signals before the init exists so none is lost; children of the init that get
    // reparented to us are reaped too.
    block_all_signals();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  pid_t init;
  try {
    init = create_container(g, o);
  } catch (...) {
    sigset_t set;
    sigfillset(&set);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    throw;
  }
  try {
    container_start(g, o.id);
  } catch (...) {
    container_delete(g, o.id, true);
    throw;
  }
  if (detach) return 0;
  int code = wait_forwarding_signals(init);
  container_delete(g, o.id, true);
  return code;
}

}  // namespace cryo::runtime
