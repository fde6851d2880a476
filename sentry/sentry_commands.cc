// The sentry's running commands: signals, reaping, their stdin and output streams, their end
// (exit, timeout, the grace for output after it).
#include "sentry/sentry.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "base/file.h"
#include "sentry/log.h"
#include "sentry/sentry_internal.h"

namespace cryo::sentry {


void Sentry::signal_command(Command& cmd, int sig) {
  if (cmd.exited) return;
  if (!cmd.pid) {
    if (auto text = read_file_if_exists(paths_.cmd_pid_file(cmd.id))) {
      try {
        cmd.pid = std::stoi(*text);
      } catch (...) {
      }
    }
  }
  if (cmd.pid > 0) {
    // The exec'd process leads its own session and process group: signal the whole group,
    // so `sh -c 'a | b'` and its children go too.
    if (::kill(-cmd.pid, sig) != 0) ::kill(cmd.pid, sig);
  } else if (cmd.helper > 0) {
    ::kill(cmd.helper, sig);  // not exec'd yet: the helper forwards it (or takes it, for SIGKILL)
  } else {
    cmd.pending_signal = sig;  // the launcher has not reported the pid yet
  }
}

void Sentry::reap_children() {
  int status;
  pid_t p;
  while ((p = ::waitpid(-1, &status, WNOHANG)) > 0) {
    bool known = false;
    for (auto& [id, cmd] : cmds_)
      if (cmd->helper == p) {
        known = true;
        cmd->exited = true;
        cmd->exit_code = decode_status(status);
        if (cmd->timed_out && cmd->exit_code == 0) cmd->exit_code = 137;
        cmd->exited_at = Clock::now();
        if (cmd->pid != p) ::unlink(paths_.cmd_pid_file(id).c_str());  // only exec helpers write one
      }
    if (launcher_ && p == launcher_->pid()) {
      read_launcher();  // the replies it sent before it died, then its EOF
      if (launcher_) launcher_gone("exited with status " + std::to_string(status));
    } else if (!known && !launching_.empty()) {
      // Launched commands are our children: one can exit before the launcher's reply names it.
      early_exits_[p] = status;
    }
  }
}

void Sentry::pump_output(Command& cmd, bool is_err, bool drain) {
  UniqueFd& fd = is_err ? cmd.err : cmd.out;
  char buf[kChunk];
  while (fd) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      fd.reset();
      return;
    }
    if (cmd.conn)
      send(cmd.conn, {{"stream", is_err ? "stderr" : "stdout"}, {"data", base64_encode(std::string_view(buf, n))}});
    if (!drain) return;
  }
}

void Sentry::pump_stdin(Command& cmd) {
  while (cmd.in && !cmd.stdin_pending.empty()) {
    ssize_t n = ::write(cmd.in.get(), cmd.stdin_pending.data(), cmd.stdin_pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {  // EPIPE: the command stopped reading
      cmd.stdin_pending.clear();
      cmd.in.reset();
      return;
    }
    cmd.stdin_pending.erase(0, static_cast<size_t>(n));
  }
  if (cmd.stdin_close && cmd.stdin_pending.empty()) cmd.in.reset();
}

void Sentry::check_commands() {
  auto now = Clock::now();
  std::vector<std::string> done;
  for (auto& [id, cmd] : cmds_) {
    if (!cmd->exited && cmd->deadline && now >= *cmd->deadline && !cmd->timed_out) {
      cmd->timed_out = true;
      signal_command(*cmd, SIGKILL);
      if (cmd->helper > 0) ::kill(cmd->helper, SIGKILL);
    }
    if (cmd->exited && ((!cmd->out && !cmd->err) || now >= cmd->exited_at + kExitGrace)) done.push_back(id);
  }
  for (auto& id : done) finish_command(id);
}

void Sentry::finish_command(const std::string& id) {
  auto it = cmds_.find(id);
  Command& cmd = *it->second;
  pump_output(cmd, false, true);
  pump_output(cmd, true, true);
  log_line("exit " + id + ": " + std::to_string(cmd.exit_code) + (cmd.timed_out ? " (timed out)" : ""));
  if (cmd.conn) reply_and_close(cmd.conn, {{"exit_code", cmd.exit_code}, {"timed_out", cmd.timed_out}});
  cmds_.erase(it);
}

}  // namespace cryo::sentry
