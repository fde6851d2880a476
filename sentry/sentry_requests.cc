// The sentry's clients: connections on its socket, one request each, and the replies and
// output streams that go back on them.
#include "sentry/sentry.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "base/error.h"
#include "sentry/sentry_internal.h"
#include "sentry/user.h"

namespace cryo::sentry {
namespace {

using nlohmann::json;

// Request errors carry a kind so the engine can map them to HTTP statuses.
struct RequestError : Error {
  std::string kind;
  RequestError(std::string k, const std::string& what) : Error(what), kind(std::move(k)) {}
};

std::vector<std::string> merge_env(const std::vector<std::string>& base, const json& extra) {
  std::vector<std::string> out = base;
  for (auto& [k, v] : extra.items()) {
    if (k.empty() || k.find('=') != std::string::npos) throw RequestError("bad_request", "env key `" + k + "` is invalid");
    std::string entry = k + "=" + v.get<std::string>();
    auto it = std::find_if(out.begin(), out.end(), [&](const std::string& e) { return e.rfind(k + "=", 0) == 0; });
    if (it != out.end())
      *it = entry;
    else
      out.push_back(entry);
  }
  return out;
}

}  // namespace

// ---- connections ------------------------------------------------------------------------------

void Sentry::accept_connections() {
  for (;;) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or a client that gave up
    Connection c;
    c.fd.reset(fd);
    conns_.emplace(next_conn_++, std::move(c));
  }
}

void Sentry::read_connection(uint64_t conn_id) {
  char buf[kChunk];
  for (;;) {
    auto it = conns_.find(conn_id);
    if (it == conns_.end()) return;
    ssize_t n = ::read(it->second.fd.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      // The client went away; its command (if any) runs on, its output is dropped.
      if (auto c = cmds_.find(it->second.cmd); c != cmds_.end()) c->second->conn = 0;
      if (kill_conn_ == conn_id) kill_conn_ = 0;
      conns_.erase(it);
      return;
    }
    Connection& c = it->second;
    if (!c.cmd.empty() || c.close_when_flushed) continue;  // one request per connection
    c.in.append(std::string_view(buf, n));
    std::string line;
    if (c.in.next_line(line)) handle_request(conn_id, line);
    else if (c.in.pending() > (64u << 20)) reply_and_close(conn_id, {{"error", "request too large"}, {"kind", "bad_request"}});
  }
}

void Sentry::send(uint64_t conn_id, const json& msg) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  it->second.out += dump(msg);
  flush(it->second);
}

void Sentry::reply_and_close(uint64_t conn_id, const json& msg) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  it->second.close_when_flushed = true;
  send(conn_id, msg);
}

void Sentry::flush(Connection& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      c.out.clear();  // the peer is gone; read_connection will notice the hangup
      return;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  if (c.close_when_flushed) ::shutdown(c.fd.get(), SHUT_WR);  // the reader sees EOF; we drop it on hangup
}

// ---- requests ---------------------------------------------------------------------------------

void Sentry::handle_request(uint64_t conn_id, const std::string& line) {
  try {
    json req;
    try {
      req = json::parse(line);
    } catch (const json::exception& e) {
      throw RequestError("bad_request", std::string("request is not JSON: ") + e.what());
    }
    std::string op = req.value("op", "");
    if (op == "ping") {
      reply_and_close(conn_id, {{"ok", true}, {"pid", ::getpid()}, {"init_pid", init_pid_}});
    } else if (op == "exec") {
      handle_exec(conn_id, req);
    } else if (op == "stdin") {
      handle_stdin(req);
      reply_and_close(conn_id, {{"ok", true}});
    } else if (op == "signal") {
      handle_signal(req);
      reply_and_close(conn_id, {{"ok", true}});
    } else if (op == "list") {
      reply_and_close(conn_id, {{"commands", list_commands()}});
    } else if (op == "kill") {
      kill_conn_ = conn_id;
      shut_down("kill requested");
    } else {
      throw RequestError("bad_request", "unknown op `" + op + "`");
    }
  } catch (const RequestError& e) {
    reply_and_close(conn_id, {{"error", e.what()}, {"kind", e.kind}});
  } catch (const json::exception& e) {
    reply_and_close(conn_id, {{"error", std::string("malformed request: ") + e.what()}, {"kind", "bad_request"}});
  } catch (const std::exception& e) {
    reply_and_close(conn_id, {{"error", e.what()}, {"kind", "internal"}});
  }
}

oci::Process Sentry::exec_process(const json& req) {
  oci::Process p = base_process_;
  p.args = req.at("argv").get<std::vector<std::string>>();
  if (p.args.empty() || p.args[0].empty()) throw RequestError("bad_request", "argv must not be empty");
  std::string cwd = req.value("cwd", "");
  p.cwd = cwd.empty() ? cfg_.cwd : cwd;
  if (p.cwd[0] != '/') throw RequestError("bad_request", "cwd `" + p.cwd + "` must be absolute");
  json env = req.value("env", json::object());
  std::optional<ResolvedUser> user;
  try {
    user = resolve_user(root_fd_.get(), req.value("user", ""));
  } catch (const SysError&) {
    throw;
  } catch (const Error& e) {
    throw RequestError("bad_request", e.what());
  }
  if (user) {
    p.user.uid = user->uid;
    p.user.gid = user->gid;
    p.user.additional_gids.clear();
    if (!user->home.empty() && !env.contains("HOME")) env["HOME"] = user->home;
  }
  p.env = merge_env(p.env, env);
  return p;
}

void Sentry::handle_exec(uint64_t conn_id, const json& req) {
  auto cmd = std::make_unique<Command>();
  cmd->id = "cmd-" + std::to_string(next_cmd_++);
  oci::Process process = exec_process(req);
  spawn_command(*cmd, process);
  double timeout = req.value("timeout_s", 0.0);
  if (timeout > 0)
    cmd->deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  cmd->stdin_pending = base64_decode(req.value("stdin", ""));
  cmd->stdin_close = req.value("close_stdin", false);
  cmd->conn = conn_id;
  conns_.at(conn_id).cmd = cmd->id;
  std::string id = cmd->id;
  Command& c = *cmds_.emplace(id, std::move(cmd)).first->second;
  if (c.helper > 0) report_started(c);  // else once the launcher reports the pid
  pump_stdin(c);
}

void Sentry::report_started(Command& cmd) {
  if (cmd.conn) send(cmd.conn, {{"started", cmd.id}, {"pid", cmd.helper}});
}

void Sentry::handle_stdin(const json& req) {
  std::string id = req.at("cmd").get<std::string>();
  auto it = cmds_.find(id);
  if (it == cmds_.end()) throw RequestError("not_found", "command `" + id + "` is not running");
  Command& cmd = *it->second;
  if (!cmd.in || cmd.stdin_close) throw RequestError("conflict", "command `" + id + "`: stdin is closed");
  cmd.stdin_pending += base64_decode(req.value("data", ""));
  cmd.stdin_close = req.value("close", false);
  pump_stdin(cmd);
}

void Sentry::handle_signal(const json& req) {
  std::string id = req.at("cmd").get<std::string>();
  int sig = req.value("signal", SIGKILL);
  if (sig <= 0 || sig >= NSIG) throw RequestError("bad_request", "signal " + std::to_string(sig) + " is invalid");
  auto it = cmds_.find(id);
  if (it == cmds_.end()) throw RequestError("not_found", "command `" + id + "` is not running");
  signal_command(*it->second, sig);
}

json Sentry::list_commands() const {
  json out = json::array();
  for (auto& [id, cmd] : cmds_)
    if (!cmd->exited) out.push_back(id);
  return out;
}

}  // namespace cryo::sentry
