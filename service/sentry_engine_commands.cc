// The sentry engine's commands: each one a request to the sandbox's sentry, whose connection then
// streams the output; a background command's stream is read by a thread of its own.
#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <utility>

#include "base/error.h"
#include "sentry/in_root.h"
#include "sentry/protocol.h"
#include "service/sentry_engine_internal.h"

namespace cryo::service {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using sentry::SandboxPaths;

// Exit code reported for a background command whose stream ended without one: the sentry (and
// with it the command) was killed.
constexpr int kKilledExitCode = 128 + SIGKILL;

// Maps sentry replies to the errors the HTTP layer knows.
[[noreturn]] void rethrow_sentry(const std::string& id) {
  try {
    throw;
  } catch (const sentry::SentryError& e) {
    if (e.kind() == "bad_request") throw BadRequest(e.what());
    if (e.kind() == "not_found") throw NotFound(e.what());
    if (e.kind() == "conflict") throw Conflict(e.what());
    throw Error("sandbox `" + id + "`: " + e.what());
  } catch (const sentry::SentryUnreachable&) {
    throw Conflict("sandbox `" + id + "` is not running (its sentry is gone)");
  }
}

json exec_request(const CommandSpec& cmd, bool close_stdin) {
  if (cmd.argv.empty()) throw BadRequest("argv must not be empty");
  return {{"op", "exec"},
          {"argv", cmd.argv},
          {"env", cmd.env},
          {"cwd", cmd.cwd},
          {"user", cmd.user},
          {"stdin", sentry::base64_encode(cmd.stdin_data)},
          {"close_stdin", close_stdin},
          {"timeout_s", cmd.timeout_s}};
}

// A background command's thread: its output to the sink until its exit code or the stream's end.
void pump(Background& bg, const OutputSink& sink) {
  int code = kKilledExitCode;
  try {
    while (auto msg = bg.conn->next()) {
      if (bg.abandoned) break;
      if (msg->contains("stream")) {
        std::string data = sentry::base64_decode((*msg)["data"].get<std::string>());
        auto& cb = (*msg)["stream"] == "stderr" ? sink.on_stderr : sink.on_stdout;
        if (cb) cb(data);
      } else if (msg->contains("exit_code")) {
        code = (*msg)["exit_code"].get<int>();
        break;
      }
    }
  } catch (const std::exception&) {
    // A broken stream ends the command like a killed sentry does.
  }
  if (!bg.abandoned && sink.on_exit) sink.on_exit(code);
  bg.done = true;
}

}  // namespace

CommandResult SentryEngine::run(const std::string& id, const CommandSpec& cmd, const OutputSink& sink) {
  SandboxPaths p = existing(id);
  check_cwd(id, cmd.cwd);
  CommandResult r;
  try {
    sentry::SentryConnection c(p.socket());
    c.send(exec_request(cmd, true));
    // The sentry enforces the timeout; this one only guards against a wedged sentry.
    auto guard = cmd.timeout_s > 0 ? std::chrono::milliseconds(static_cast<int64_t>(cmd.timeout_s * 1000) + 30'000)
                                   : std::chrono::milliseconds(-1);
    for (;;) {
      auto msg = c.next(guard);
      if (!msg) throw Error("sandbox `" + id + "`: the sentry went away while the command ran");
      if (msg->contains("stream")) {
        std::string data = sentry::base64_decode((*msg)["data"].get<std::string>());
        bool err = (*msg)["stream"] == "stderr";
        (err ? r.stderr_data : r.stdout_data).append(data);
        auto& cb = err ? sink.on_stderr : sink.on_stdout;
        if (cb) cb(data);
      } else if (msg->contains("exit_code")) {
        r.exit_code = (*msg)["exit_code"].get<int>();
        r.timed_out = msg->value("timed_out", false);
        return r;
      }
    }
  } catch (const sentry::SentryError&) {
    rethrow_sentry(id);
  } catch (const sentry::SentryUnreachable&) {
    rethrow_sentry(id);
  }
}

std::string SentryEngine::start_command(const std::string& id, const CommandSpec& cmd, OutputSink sink) {
  SandboxPaths p = existing(id);
  check_cwd(id, cmd.cwd);
  auto bg = std::make_shared<Background>();
  bg->sandbox = id;
  std::string cmd_id;
  try {
    bg->conn = std::make_unique<sentry::SentryConnection>(p.socket());
    bg->conn->send(exec_request(cmd, false));
    auto started = bg->conn->next(30s);
    if (!started || !started->contains("started")) throw Error("sandbox `" + id + "`: the sentry did not start the command");
    cmd_id = (*started)["started"].get<std::string>();
  } catch (const sentry::SentryError&) {
    rethrow_sentry(id);
  } catch (const sentry::SentryUnreachable&) {
    rethrow_sentry(id);
  }
  bg->thread = std::thread([bg, sink = std::move(sink)] { pump(*bg, sink); });
  std::lock_guard lock(mu_);
  std::erase_if(bg_, [](auto& b) {
    if (!b->done) return false;
    if (b->thread.joinable()) b->thread.join();
    return true;
  });
  bg_.push_back(bg);
  return cmd_id;
}

void SentryEngine::write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close) {
  call(id, {{"op", "stdin"}, {"cmd", cmd_id}, {"data", sentry::base64_encode(data)}, {"close", close}});
}

void SentryEngine::kill_command(const std::string& id, const std::string& cmd_id, int sig) {
  call(id, {{"op", "signal"}, {"cmd", cmd_id}, {"signal", sig}});
}

std::vector<std::string> SentryEngine::list_commands(const std::string& id) {
  return call(id, {{"op", "list"}})["commands"].get<std::vector<std::string>>();
}

void SentryEngine::join_background(const std::string& id) {
  std::vector<std::shared_ptr<Background>> mine;
  {
    std::lock_guard lock(mu_);
    std::erase_if(bg_, [&](auto& b) {
      if (b->sandbox != id) return false;
      mine.push_back(b);
      return true;
    });
  }
  for (auto& b : mine)
    if (b->thread.joinable()) b->thread.join();  // the sentry is gone: their streams ended
}

json SentryEngine::call(const std::string& id, const json& req) {
  SandboxPaths p = existing(id);
  try {
    return sentry::sentry_call(p.socket(), req);
  } catch (const sentry::SentryError&) {
    rethrow_sentry(id);
  } catch (const sentry::SentryUnreachable&) {
    rethrow_sentry(id);
  }
}

void SentryEngine::check_cwd(const std::string& id, const std::string& cwd) {
  if (cwd.empty()) return;
  if (cwd[0] != '/') throw BadRequest("field `cwd`: `" + cwd + "` must be absolute");
  try {
    sentry::open_in_root(open_root(id).get(), cwd, O_PATH | O_DIRECTORY);
  } catch (const SysError& e) {
    if (e.code() == ENOENT) throw BadRequest("field `cwd`: `" + cwd + "` does not exist in the sandbox");
    if (e.code() == ENOTDIR) throw BadRequest("field `cwd`: `" + cwd + "` is not a directory in the sandbox");
    throw BadRequest(std::string("field `cwd`: ") + e.what());
  }
}

}  // namespace cryo::service
