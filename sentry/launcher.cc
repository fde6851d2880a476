#include "sentry/launcher.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd_passing.h"
#include "runtime/exec_launcher.h"
#include "sentry/direct_exec.h"
#include "sentry/simple_command.h"

namespace cryo::sentry {
namespace {

using nlohmann::json;

// A request carries argv and env; beyond this it is refused and the sentry's fallback runs it.
constexpr size_t kMaxRequest = 1 << 20;
constexpr int kSockFd = 3;  // the launcher's end of the socket, once it runs

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Sends one message; SCM_RIGHTS carries `fds` when there are any. Returns errno, 0 on success.
void reply(const json& j) {
  // Blocking: the sentry reads replies as soon as its loop comes round.
  int err = send_with_fds(kSockFd, dump(j), {}, 0);
  if (err == EPIPE || err == ECONNRESET) ::_exit(0);  // the sentry is gone
}

// One request: the fds it carried (owned) and its text; nullopt at EOF.
struct Request {
  std::vector<UniqueFd> fds;
  std::string text;
  bool truncated = false;
};

std::optional<Request> receive(std::string& buf) {
  // Its size first, for a buffer of just that size: zero-filling kMaxRequest bytes per request
  // would cost more than the fork, and would fault in pages each fork then shares copy-on-write.
  ssize_t size;
  do size = ::recv(kSockFd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
  while (size < 0 && errno == EINTR);
  if (size < 0) throw_errno("wait for a launch request");
  buf.resize(std::clamp<size_t>(static_cast<size_t>(size), 1, kMaxRequest));  // 0: EOF, read below
  ReceivedMessage m = recv_with_fds(kSockFd, buf, 3);
  if (m.size < 0) throw_errno("receive a launch request");
  if (m.size == 0) return std::nullopt;
  return Request{std::move(m.fds), buf, m.truncated};
}

oci::Process process_of(const oci::Process& base, const json& j) {
  oci::Process p = base;
  p.args = j.at("args").get<std::vector<std::string>>();
  p.env = j.at("env").get<std::vector<std::string>>();
  p.cwd = j.at("cwd").get<std::string>();
  p.user.uid = j.at("uid").get<uint32_t>();
  p.user.gid = j.at("gid").get<uint32_t>();
  p.user.additional_gids = j.at("gids").get<std::vector<uint32_t>>();
  return p;
}

json launch_one(const runtime::ExecLauncher& launcher, const oci::Process& base, const Request& r) {
  try {
    if (r.truncated) throw Error("launch request too large");
    if (r.fds.size() != 3) throw Error("launch request without its 3 stdio fds");
    oci::Process p = process_of(base, json::parse(r.text));
    // `sh -c 'ls -l /tmp'` runs ls without the shell when that changes nothing (see
    // simple_command.h); the shell still runs if the direct exec fails.
    std::function<void()> exec_first;
    if (auto words = simple_command_words(p.args, p.env))
      exec_first = [&p, words = std::move(*words)] { exec_like_sh(words, p.env); };
    // A command with a supervised profile sends its listener straight to the sentry on our socket.
    pid_t pid = launcher.launch(p, {r.fds[0].get(), r.fds[1].get(), r.fds[2].get()}, CLONE_PARENT, "cryo-sentry: ",
                                kSockFd, exec_first);
    return {{"pid", pid}};
  } catch (const SysError& e) {
    return {{"error", e.what()}, {"errno", e.code()}};
  } catch (const std::exception& e) {
    return {{"error", e.what()}, {"errno", 0}};
  }
}

// The launcher process: prepares once, then forks one command per request until EOF.
[[noreturn]] void run_launcher(const runtime::GlobalOptions& g, const std::string& id, const oci::Process& base,
                               pid_t sentry) noexcept {
  // Nothing but SIGKILL (the sentry's, or our parent death signal) should stop us between requests.
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != sentry) ::_exit(0);
  try {
    runtime::ExecLauncher launcher = runtime::ExecLauncher::prepare(g, id);
    reply({{"ready", true}});
    std::string buf;
    while (auto r = receive(buf)) reply(launch_one(launcher, base, *r));
    ::_exit(0);
  } catch (const std::exception& e) {
    json j = {{"error", std::string("command launcher: ") + e.what()}, {"errno", 0}};
    send_with_fds(kSockFd, dump(j), {}, 0);
  }
  ::_exit(1);
}

}  // namespace

std::unique_ptr<Launcher> Launcher::start(const runtime::GlobalOptions& g, const std::string& id,
                                          const oci::Process& base) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair for the command launcher");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  pid_t sentry = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork the command launcher");
  if (pid == 0) {
    // Only stdio (/dev/null) and the socket: the sentry's other fds (its listener, connections,
    // command pipes) must not stay open in a process that lives as long as the sandbox.
    if (::dup2(theirs.get(), kSockFd) < 0) ::_exit(1);
    ::syscall(SYS_close_range, kSockFd + 1, ~0U, 0);
    run_launcher(g, id, base, sentry);
  }
  if (::fcntl(ours.get(), F_SETFL, ::fcntl(ours.get(), F_GETFL) | O_NONBLOCK) != 0) {
    ::kill(pid, SIGKILL);
    throw_errno("make the command launcher's socket non-blocking");
  }
  return std::unique_ptr<Launcher>(new Launcher(pid, std::move(ours)));
}

Launcher::~Launcher() {
  sock_.reset();
  ::kill(pid_, SIGKILL);
}

bool Launcher::request(const oci::Process& p, const std::array<int, 3>& stdio) {
  json j = {{"args", p.args}, {"env", p.env}, {"cwd", p.cwd}, {"uid", p.user.uid}, {"gid", p.user.gid},
            {"gids", p.user.additional_gids}};
  std::string text = dump(j);
  if (text.size() > kMaxRequest) return false;
  // EAGAIN (many requests queued behind a frozen launcher) and EMSGSIZE: the caller falls back.
  return send_with_fds(sock_.get(), text, {stdio[0], stdio[1], stdio[2]}, MSG_DONTWAIT) == 0;
}

std::optional<Launcher::Reply> Launcher::read_reply() {
  std::string buf(64 * 1024, '\0');
  ReceivedMessage m = recv_with_fds(sock_.get(), buf, 1, MSG_DONTWAIT);
  if (m.size < 0 && errno == EAGAIN) return std::nullopt;
  if (m.size < 0) throw_errno("read from the command launcher");
  if (m.size == 0) throw Error("the command launcher exited");
  Reply r;
  UniqueFd passed = m.fds.empty() ? UniqueFd() : std::move(m.fds[0]);
  if (buf == "seccomp-listener") {
    if (!passed) throw Error("the command launcher sent a listener message without its fd");
    r.listener = std::move(passed);
    return r;
  }
  try {
    json j = json::parse(buf);
    r.ready = j.value("ready", false);
    r.pid = j.value("pid", 0);
    r.error = j.value("error", "");
    r.error_code = j.value("errno", 0);
  } catch (const json::exception& e) {
    throw Error(std::string("the command launcher sent a malformed reply: ") + e.what());
  }
  return r;
}

}  // namespace cryo::sentry
