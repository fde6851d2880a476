// Starting the sentry's commands: through the command launcher (launcher.h), or through a forked
// exec helper when there is no launcher or it cannot fork, and what becomes of the commands it
// was asked for when it dies.
#include "sentry/sentry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

#include "base/error.h"
#include "sentry/container.h"
#include "sentry/log.h"
#include "sentry/sentry_internal.h"

namespace cryo::sentry {
namespace {

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

void Sentry::spawn_command(Command& cmd, const oci::Process& process) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe for stdin");
  cmd.child_in.reset(in[0]);
  cmd.in.reset(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe for stdout");
  cmd.out.reset(out[0]);
  cmd.child_out.reset(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) throw_errno("pipe for stderr");
  cmd.err.reset(err[0]);
  cmd.child_err.reset(err[1]);
  set_nonblocking(cmd.in.get());
  set_nonblocking(cmd.out.get());
  set_nonblocking(cmd.err.get());
  // A launcher that died after it was ready (OOM, killed) is replaced, in the background; one
  // that never got ready is not retried.
  if (!launcher_ && !launcher_failed_ && !stopping_) start_launcher();
  if (launcher_ && launcher_->request(process, {cmd.child_in.get(), cmd.child_out.get(), cmd.child_err.get()})) {
    cmd.process = process;
    launching_.push_back(cmd.id);
    return;
  }
  spawn_with_helper(cmd, process);
}

// The launcher's fork failed, or it is not there: container_exec in a forked helper, which
// prepares the process from scratch (and can still join a cgroup whose pids limit is reached).
void Sentry::spawn_with_helper(Command& cmd, oci::Process process) {
  UniqueFd in_r = std::move(cmd.child_in), out_w = std::move(cmd.child_out), err_w = std::move(cmd.child_err);
  cmd.process.reset();
  runtime::ExecOptions o;
  o.id = cfg_.id;
  o.process = process;
  o.pid_file = paths_.cmd_pid_file(cmd.id);
  auto g = runtime_options(cfg_);
  pid_t sentry = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork the exec helper");
  if (pid == 0) {
    // The helper: the command's stdio are the pipes; runtime::container_exec puts the process
    // into the container and waits for it, forwarding signals. We are single-threaded, so
    // running C++ after fork is safe.
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    ::syscall(SYS_close_range, 3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Without the sentry nobody reads the output: go down with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != sentry) ::_exit(137);
    try {
      ::_exit(runtime::container_exec(g, o));
    } catch (const std::exception& e) {
      std::string msg = std::string("cryo-sentry: ") + e.what() + "\n";
      ssize_t n = ::write(2, msg.data(), msg.size());
      (void)n;
      ::_exit(127);
    }
  }
  cmd.helper = pid;
  log_line("exec " + cmd.id + ": `" + process.args[0] + "` (helper pid " + std::to_string(pid) + ")");
}

// ---- the launcher -----------------------------------------------------------------------------

void Sentry::start_launcher() {
  try {
    launcher_ = Launcher::start(runtime_options(cfg_), cfg_.id, base_process_);
    launcher_ready_ = false;
  } catch (const std::exception& e) {
    launcher_failed_ = true;
    log_line(std::string("no command launcher, commands go through exec helpers: ") + e.what());
  }
}

void Sentry::read_launcher() {
  try {
    while (launcher_) {
      auto r = launcher_->read_reply();
      if (!r) return;
      if (r->listener) {
        if (supervisor_) supervisor_->add_listener(std::move(r->listener));
        continue;
      }
      if (!launcher_ready_) {
        if (!r->ready) {
          launcher_failed_ = true;
          throw Error(r->error);
        }
        launcher_ready_ = true;
        log_line("command launcher ready (pid " + std::to_string(launcher_->pid()) + ")");
        continue;
      }
      if (launching_.empty()) throw Error("the command launcher answered a request never made");
      std::string id = launching_.front();
      launching_.pop_front();
      auto it = cmds_.find(id);
      if (it == cmds_.end()) continue;
      if (r->pid > 0) {
        launched(*it->second, r->pid);
      } else {
        // EAGAIN at the pids limit above all: a helper's process joins the cgroup instead of
        // forking inside it, which the limit allows (to clean up after a fork bomb, say).
        log_line("exec " + id + ": the launcher could not fork (" + r->error + "); using an exec helper");
        try {
          spawn_with_helper(*it->second, *it->second->process);
          report_started(*it->second);
        } catch (const std::exception& e) {
          fail_to_start(*it->second, e.what());
        }
      }
    }
  } catch (const std::exception& e) {
    launcher_gone(e.what());
  }
  if (launching_.empty()) early_exits_.clear();
}

void Sentry::launched(Command& cmd, pid_t pid) {
  cmd.helper = cmd.pid = pid;
  log_line("exec " + cmd.id + ": `" + cmd.process->args[0] + "` (pid " + std::to_string(pid) + ")");
  cmd.process.reset();
  // Our copies of the command's ends: without closing them its pipes would never reach EOF.
  cmd.child_in.reset();
  cmd.child_out.reset();
  cmd.child_err.reset();
  report_started(cmd);
  if (auto e = early_exits_.find(pid); e != early_exits_.end()) {
    cmd.exited = true;
    cmd.exit_code = decode_status(e->second);
    cmd.exited_at = Clock::now();
    early_exits_.erase(e);
  } else if (cmd.pending_signal) {
    signal_command(cmd, cmd.pending_signal);
  }
}

// The launcher died or misbehaved. It serves one request at a time, so only the oldest
// unanswered one may have been forked: running it again could run it twice, so it fails. The
// others were never read and go through exec helpers. Before it was ready it had read none.
void Sentry::launcher_gone(const std::string& why) {
  log_line("command launcher gone: " + why);
  launcher_.reset();
  std::deque<std::string> pending;
  pending.swap(launching_);
  bool first_uncertain = launcher_ready_;
  for (auto& id : pending) {
    auto it = cmds_.find(id);
    if (it == cmds_.end() || !it->second->process) continue;
    Command& cmd = *it->second;
    try {
      if (std::exchange(first_uncertain, false)) throw Error("the command launcher died while starting it");
      spawn_with_helper(cmd, *cmd.process);
      report_started(cmd);
    } catch (const std::exception& e) {
      fail_to_start(cmd, e.what());
    }
  }
  early_exits_.clear();
}

// A command that could not be started ends like a failed exec: the reason on its stderr, 127.
void Sentry::fail_to_start(Command& cmd, const std::string& why) {
  log_line("exec " + cmd.id + ": " + why);
  std::string msg = "cryo-sentry: " + why + "\n";
  if (cmd.child_err) {
    ssize_t n = ::write(cmd.child_err.get(), msg.data(), msg.size());
    (void)n;
  }
  cmd.process.reset();
  cmd.child_in.reset();
  cmd.child_out.reset();
  cmd.child_err.reset();
  cmd.helper = 0;  // nothing to wait for or signal
  cmd.exited = true;
  cmd.exit_code = 127;
  cmd.exited_at = Clock::now();
  report_started(cmd);
}

}  // namespace cryo::sentry
