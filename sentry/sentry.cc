// The sentry's life: bringing the sandbox up, the poll loop that serves everything, the end.
#include "sentry/sentry.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/file.h"
#include "sentry/binaries.h"
#include "sentry/container.h"
#include "sentry/log.h"
#include "sentry/sentry_internal.h"

namespace cryo::sentry {
namespace {

using nlohmann::json;

// Stop reading a command's pipes while its client lags this far behind (backpressure).
constexpr size_t kMaxQueued = 1 << 20;

UniqueFd listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error("socket path `" + path + "` is too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw_errno("socket");
  ::unlink(path.c_str());
  // Only root (cryod) may talk to the sentry: create the socket with mode 0600.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) throw_errno("bind `" + path + "`");
  if (::listen(fd.get(), 64) != 0) throw_errno("listen on `" + path + "`");
  return fd;
}

}  // namespace

Sentry::Sentry(SandboxPaths paths, SentryConfig cfg) : paths_(std::move(paths)), cfg_(std::move(cfg)) {}
Sentry::~Sentry() = default;

// "ok" to the engine that started us. If it is gone (a cryod killed while creating the sandbox,
// EPIPE), nobody will ever list this sandbox: take it down rather than leave it running unlisted.
void Sentry::report_ready(int ready_fd) {
  try {
    write_all(ready_fd, "ok\n", 3, "report readiness");
  } catch (const std::exception&) {
    log_line("the engine that started this sandbox is gone; tearing it down");
    launcher_.reset();
    try {
      tear_down(cfg_, paths_);
      remove_tree(paths_.dir);
    } catch (const std::exception& e) {
      log_line(std::string("tear-down: ") + e.what());
    }
    throw;
  }
}

void Sentry::start(int ready_fd) {
  UniqueFd ready(ready_fd);
  if (ready) {
    ::fcntl(ready.get(), F_SETFD, FD_CLOEXEC);  // the container must not inherit it
    // First our pid, so a starter that gives up waiting can kill us.
    std::string hello = "pid " + std::to_string(::getpid()) + "\n";
    write_all(ready.get(), hello.data(), hello.size(), "report the sentry's pid");
  }
  try {
    // Reparented descendants (CRIU's restored tree, double-forked helpers) come back to us.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) throw_errno("become a child subreaper");
    oci::Spec spec = oci::load_spec(paths_.bundle());
    base_process_ = *spec.process;
    base_process_.terminal = false;
    // Commands get the sandbox's rlimits (RLIMIT_NOFILE above all), not the sentry's own.
    make_dirs(paths_.cmds(), 0700);
    // Before the container exists: cryo create hands the init's listener over at once.
    if (!cfg_.supervise.is_null() && !cfg_.supervise.empty()) {
      supervisor_ = std::make_unique<Supervisor>(supervision_rules_from_json(cfg_.supervise), paths_.audit_log());
      supervisor_->listen(paths_.supervisor_socket());
    }
    log_line("bringing up sandbox `" + cfg_.id + "` (" + cfg_.mode + ")");
    init_pid_ = bring_up_with_helper();
    try {
      long pidfd = ::syscall(SYS_pidfd_open, init_pid_, 0);
      if (pidfd < 0) throw_errno("pidfd_open the sandbox init");
      init_pidfd_.reset(static_cast<int>(pidfd));
      root_fd_ = open_or_throw("/proc/" + std::to_string(init_pid_) + "/root", O_PATH | O_DIRECTORY | O_CLOEXEC);
      // Signals arrive through the poll loop from here on.
      sigset_t set;
      sigemptyset(&set);
      for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
      ::sigprocmask(SIG_BLOCK, &set, nullptr);
      signal_fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
      if (!signal_fd_) throw_errno("signalfd");
      listen_fd_ = listen_unix(paths_.socket());
      write_file_atomic(paths_.init_pid_file(), std::to_string(init_pid_), 0644);
      write_file_atomic(paths_.pid_file(), std::to_string(::getpid()), 0644);
    } catch (...) {
      tear_down(cfg_, paths_);
      throw;
    }
    log_line("sandbox `" + cfg_.id + "` is up; init pid " + std::to_string(init_pid_));
    start_launcher();
    if (ready) report_ready(ready.get());
  } catch (const std::exception& e) {
    log_line(std::string("start failed: ") + e.what());
    std::string msg = std::string("error: ") + e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    msg += "\n";
    if (ready) {
      ssize_t n = ::write(ready.get(), msg.data(), msg.size());
      (void)n;
    }
    throw;
  }
}

// Runs cryo-sentry-setup, which creates (or restores) the container and exits; its init is then
// reparented to us, the nearest child subreaper.
pid_t Sentry::bring_up_with_helper() {
  std::string setup = sibling_binary("cryo-sentry-setup", "CRYO_SENTRY_SETUP");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe for cryo-sentry-setup");
  UniqueFd rd(p[0]), wr(p[1]);
  std::vector<std::string> args = {setup, "--sandbox-dir", paths_.dir, "--report-fd", "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork cryo-sentry-setup");
  if (pid == 0) {
    ::dup2(wr.get(), 3);
    ::syscall(SYS_close_range, 4, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  wr.reset();
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  if (text.rfind("init ", 0) == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::stoi(text.substr(5));
  if (text.rfind("error: ", 0) == 0) throw Error(text.substr(7));
  throw Error("`" + setup + "` failed (status " + std::to_string(status) + ") without saying why");
}

// ---- the loop ---------------------------------------------------------------------------------

struct Sentry::Slot {
  enum Kind { kListen, kSignal, kInit, kLauncher, kConn, kOut, kErr, kIn, kHandover, kNotify };
  Kind kind;
  uint64_t conn = 0;
  std::string cmd;
  int fd = -1;
};

// The fds of one round of the loop, and when that round must end even if none is ready.
struct Sentry::PollSet {
  std::vector<pollfd> fds;
  std::vector<Slot> slots;
  Clock::time_point deadline = Clock::time_point::max();

  void add(int fd, short events, Slot s) {
    fds.push_back({fd, events, 0});
    slots.push_back(std::move(s));
  }
  int timeout_ms() const {
    if (deadline == Clock::time_point::max()) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 60'000));
  }
};

int Sentry::serve() {
  while (!stopping_) {
    PollSet set = poll_set();
    int n = ::poll(set.fds.data(), set.fds.size(), set.timeout_ms());
    if (n < 0 && errno != EINTR) throw_errno("poll");
    for (size_t i = 0; n > 0 && i < set.fds.size() && !stopping_; ++i) {
      short rev = set.fds[i].revents;
      if (rev) dispatch(set.slots[i], rev);
    }
    if (!stopping_) check_commands();
  }
  return exit_code_;
}

Sentry::PollSet Sentry::poll_set() const {
  using enum Slot::Kind;
  PollSet set;
  set.add(listen_fd_.get(), POLLIN, {kListen});
  set.add(signal_fd_.get(), POLLIN, {kSignal});
  set.add(init_pidfd_.get(), POLLIN, {kInit});
  if (launcher_) set.add(launcher_->fd(), POLLIN, {kLauncher});
  if (supervisor_) {
    set.add(supervisor_->listen_fd(), POLLIN, {kHandover});
    for (int fd : supervisor_->listener_fds()) set.add(fd, POLLIN, {kNotify, 0, "", fd});
  }
  for (auto& [id, c] : conns_) set.add(c.fd.get(), short(POLLIN | (c.out.empty() ? 0 : POLLOUT)), {kConn, id});
  for (auto& [id, cmd] : cmds_) {
    auto it = conns_.find(cmd->conn);
    bool lagging = it != conns_.end() && it->second.out.size() >= kMaxQueued;
    // Output only once "started" went out: it comes first on the connection.
    bool started = cmd->helper > 0 || cmd->exited;
    if (cmd->out && started && !lagging) set.add(cmd->out.get(), POLLIN, {kOut, 0, id});
    if (cmd->err && started && !lagging) set.add(cmd->err.get(), POLLIN, {kErr, 0, id});
    if (cmd->in && !cmd->stdin_pending.empty()) set.add(cmd->in.get(), POLLOUT, {kIn, 0, id});
    if (cmd->deadline && !cmd->exited) set.deadline = std::min(set.deadline, *cmd->deadline);
    if (cmd->exited) set.deadline = std::min(set.deadline, cmd->exited_at + kExitGrace);
  }
  return set;
}

void Sentry::dispatch(const Slot& s, short rev) {
  using enum Slot::Kind;
  switch (s.kind) {
    case kListen:
      accept_connections();
      break;
    case kSignal: {
      signalfd_siginfo si;
      while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap_children();
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) shut_down("signal " + std::to_string(si.ssi_signo));
      }
      break;
    }
    case kInit:
      shut_down("the sandbox init exited");
      exit_code_ = 2;
      break;
    case kLauncher:
      read_launcher();
      break;
    case kHandover:
      supervisor_->accept_handovers();
      break;
    case kNotify:
      supervisor_->on_listener(s.fd, rev);
      break;
    case kConn: {
      auto it = conns_.find(s.conn);
      if (it == conns_.end()) break;
      if (rev & POLLOUT) flush(it->second);
      if (conns_.count(s.conn) && (rev & (POLLIN | POLLHUP | POLLERR))) read_connection(s.conn);
      break;
    }
    case kOut:
    case kErr:
    case kIn: {
      auto it = cmds_.find(s.cmd);
      if (it == cmds_.end()) break;
      if (s.kind == kIn)
        pump_stdin(*it->second);
      else
        pump_output(*it->second, s.kind == kErr, false);
      break;
    }
  }
}

// ---- the end ----------------------------------------------------------------------------------

void Sentry::shut_down(const std::string& why) {
  stopping_ = true;
  log_line("shutting down: " + why);
  ::unlink(paths_.socket().c_str());  // new clients fail fast from here on
  listen_fd_.reset();
  launcher_.reset();
  for (auto& [id, cmd] : cmds_) {
    signal_command(*cmd, SIGKILL);
    if (cmd->helper > 0) ::kill(cmd->helper, SIGKILL);
  }
  json reply = {{"ok", true}};
  try {
    tear_down(cfg_, paths_);
  } catch (const std::exception& e) {
    log_line(e.what());
    reply = {{"error", e.what()}, {"kind", "internal"}};
    exit_code_ = 1;
  }
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  ::unlink(paths_.init_pid_file().c_str());
  ::unlink(paths_.pid_file().c_str());
  if (auto it = conns_.find(kill_conn_); kill_conn_ && it != conns_.end()) {
    // The engine waits for this answer: block until it is written.
    ::fcntl(it->second.fd.get(), F_SETFL, ::fcntl(it->second.fd.get(), F_GETFL) & ~O_NONBLOCK);
    it->second.out += dump(reply);
    flush(it->second);
  }
  conns_.clear();
  cmds_.clear();
}

}  // namespace cryo::sentry
