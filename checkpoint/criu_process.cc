#include "checkpoint/criu_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fd_passing.h"

extern char** environ;

namespace cryo::checkpoint {
namespace {

constexpr size_t kCaptureTail = 64 * 1024;
constexpr int kMaxPassedFds = 8;

// Our own descriptors must not sit on 0-2: the child dup2()s criu's stdio there.
UniqueFd above_stdio(UniqueFd fd, const char* what) {
  if (fd.get() > 2) return fd;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) throw_errno(std::string("move ") + what + " above stdio");
  return UniqueFd(moved);
}

UniqueFd open_dev_null() {
  int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) throw_errno("open /dev/null for criu's stdin");
  return UniqueFd(fd);
}

UniqueFd make_capture() {
  int fd = ::memfd_create("criu-output", MFD_CLOEXEC);
  if (fd < 0) throw_errno("memfd_create for criu's output");
  return UniqueFd(fd);
}

// Our environment, with `path_prefix` (when set) first on PATH.
std::vector<std::string> child_environment(const std::string& path_prefix) {
  std::vector<std::string> env;
  bool has_path = false;
  for (char** e = environ; *e; ++e) {
    std::string var = *e;
    if (!path_prefix.empty() && var.rfind("PATH=", 0) == 0) {
      var = "PATH=" + path_prefix + ":" + var.substr(5);
      has_path = true;
    }
    env.push_back(std::move(var));
  }
  if (!path_prefix.empty() && !has_path) env.push_back("PATH=" + path_prefix + ":/usr/sbin:/usr/bin:/sbin:/bin");
  return env;
}

// Everything the child needs, prepared before fork: after fork it may only make async-signal-safe
// calls (the caller can be multi-threaded), so no allocation there.
struct ChildPlan {
  const char* binary;
  char* const* argv;
  char* const* envp;
  int stdio[3];
  int sock;
  const int* pass_fds;
  size_t n_pass;
  int err_pipe;
  int netns_fd;
  const KerndatMount* kerndat;
};

void report_and_exit(int err_pipe, int stage) {
  int msg[2] = {stage, errno};
  ssize_t ignored = ::write(err_pipe, msg, sizeof msg);
  (void)ignored;
  ::_exit(127);
}

enum Stage { kStageSignals = 1, kStageFds, kStageNetns, kStageExec };

[[noreturn]] void run_child(const ChildPlan& p) {
  // Signal state survives exec: give criu a clean one whatever the caller blocked or ignored.
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) report_and_exit(p.err_pipe, kStageSignals);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine

  // Nothing of ours may leak into criu (nor into the trees it restores): mark every fd >= 3
  // close-on-exec, then clear the flag only on what criu is meant to get.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    report_and_exit(p.err_pipe, kStageFds);
  int tmp[3];
  for (int i = 0; i < 3; ++i) {  // via temporaries: a source may itself be one of 0-2
    tmp[i] = ::fcntl(p.stdio[i], F_DUPFD_CLOEXEC, 3);
    if (tmp[i] < 0) report_and_exit(p.err_pipe, kStageFds);
  }
  for (int i = 0; i < 3; ++i)
    if (::dup2(tmp[i], i) < 0) report_and_exit(p.err_pipe, kStageFds);
  if (::fcntl(p.sock, F_SETFD, 0) != 0) report_and_exit(p.err_pipe, kStageFds);
  for (size_t i = 0; i < p.n_pass; ++i)
    if (::fcntl(p.pass_fds[i], F_SETFD, 0) != 0) report_and_exit(p.err_pipe, kStageFds);

  if (p.netns_fd >= 0 && ::setns(p.netns_fd, CLONE_NEWNET) != 0) report_and_exit(p.err_pipe, kStageNetns);
  p.kerndat->apply_in_child();

  ::execve(p.binary, p.argv, p.envp);
  report_and_exit(p.err_pipe, kStageExec);
  ::_exit(127);
}

const char* stage_name(int stage) {
  switch (stage) {
    case kStageSignals: return "reset signals in the criu child";
    case kStageFds: return "set up descriptors for criu";
    case kStageNetns: return "enter the container's network namespace for criu";
    default: return "exec";
  }
}

// Reads the child's exec report: EOF means exec succeeded (the pipe was close-on-exec).
void check_exec(int err_read, const std::string& binary) {
  int msg[2];
  ssize_t n;
  do n = ::read(err_read, msg, sizeof msg);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    if (msg[0] == kStageExec) throw SysError(msg[1], "run criu binary `" + binary + "`");
    throw SysError(msg[1], std::string(stage_name(msg[0])) + " (criu binary `" + binary + "`)");
  }
}

}  // namespace

CriuProcess::CriuProcess(CriuProcess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      reaped_(o.reaped_),
      status_(o.status_),
      sock_(std::move(o.sock_)),
      pidfd_(std::move(o.pidfd_)),
      capture_(std::move(o.capture_)) {}

CriuProcess CriuProcess::spawn(const SpawnSpec& spec) {
  for (int fd : spec.pass_fds)
    if (fd < 3 || ::fcntl(fd, F_GETFD) < 0)
      throw Error("criu: descriptor " + std::to_string(fd) + " to pass to criu is not open (or is stdio)");

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw_errno("socketpair for criu swrk");
  UniqueFd ours = above_stdio(UniqueFd(sv[0]), "criu socket");
  UniqueFd theirs = above_stdio(UniqueFd(sv[1]), "criu socket");

  int ep[2];
  if (::pipe2(ep, O_CLOEXEC) != 0) throw_errno("pipe for criu exec status");
  UniqueFd err_read(ep[0]);
  UniqueFd err_write = above_stdio(UniqueFd(ep[1]), "exec status pipe");

  CriuProcess proc;
  UniqueFd dev_null = open_dev_null();
  bool capture = spec.stdout_fd < 0 || spec.stderr_fd < 0;
  if (capture) proc.capture_ = make_capture();

  std::string fd_arg = std::to_string(theirs.get());
  std::vector<char*> argv = {const_cast<char*>(spec.binary.c_str()), const_cast<char*>("swrk"),
                             fd_arg.data(), nullptr};
  std::vector<std::string> env_strings = child_environment(spec.path_prefix);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  ChildPlan plan{spec.binary.c_str(),
                 argv.data(),
                 envp.data(),
                 {spec.stdin_fd >= 0 ? spec.stdin_fd : dev_null.get(),
                  spec.stdout_fd >= 0 ? spec.stdout_fd : proc.capture_.get(),
                  spec.stderr_fd >= 0 ? spec.stderr_fd : proc.capture_.get()},
                 theirs.get(),
                 spec.pass_fds.data(),
                 spec.pass_fds.size(),
                 err_write.get(),
                 spec.netns_fd,
                 &spec.kerndat};

  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork for criu");
  if (pid == 0) run_child(plan);
  proc.pid_ = pid;
  // Close our copy of criu's end now: once criu dies, reads on ours see EOF instead of hanging.
  theirs.reset();
  err_write.reset();

  // Raw syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C". Not yet reaped, so this is our criu.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) throw_errno("pidfd_open for criu");
  proc.pidfd_.reset(pidfd);
  check_exec(err_read.get(), spec.binary);  // throws: the destructor reaps the failed child
  proc.sock_ = std::move(ours);
  return proc;
}

CriuProcess::~CriuProcess() {
  if (pid_ > 0 && !reaped_) {
    kill();
    wait(-1);
  }
}

void CriuProcess::kill() {
  if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);  // our unreaped child: the pid cannot be reused
}

bool CriuProcess::send(const std::string& bytes) {
  for (;;) {
    // MSG_NOSIGNAL: a dead criu must give EPIPE here, not kill us with SIGPIPE.
    ssize_t n = ::send(sock_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)) return false;
    if (n < 0) throw_errno("send request to criu");
    throw Error("send request to criu: short write on a SOCK_SEQPACKET socket");
  }
}

Received CriuProcess::receive(Message& out, int timeout_ms) {
  for (;;) {
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {pidfd_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;  // a signal: restarting with the full timeout is harmless
    if (n < 0) throw_errno("poll criu socket");
    if (n == 0) return Received::TimedOut;
    // Check the socket first: a response sent just before criu exited is still queued there.
    if (fds[0].revents) return read_message(out);
    return Received::Closed;  // criu exited without writing anything more
  }
}

Received CriuProcess::read_message(Message& out) {
  // The real size of the next packet, without consuming it.
  ssize_t len = ::recv(sock_.get(), nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
  if (len < 0 && (errno == ECONNRESET || errno == EAGAIN)) return Received::Closed;
  if (len < 0) throw_errno("peek at criu's response");
  if (len == 0) return Received::Closed;

  out.data.assign(static_cast<size_t>(len), '\0');
  ReceivedMessage m = recv_with_fds(sock_.get(), out.data, kMaxPassedFds, MSG_DONTWAIT);
  if (m.size < 0 && errno == ECONNRESET) return Received::Closed;
  if (m.size < 0) throw_errno("receive criu's response");
  // CRIU sends at most one; the others close with m.
  out.fd = m.fds.empty() ? UniqueFd() : std::move(m.fds[0]);
  if (m.truncated) throw Error("criu's response was truncated");
  return Received::Message;
}

int CriuProcess::wait(int grace_ms) {
  if (reaped_) return status_;
  if (grace_ms >= 0) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int n;
    do n = ::poll(&p, 1, grace_ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) kill();  // criu stopped talking but does not exit: do not hang on it
  }
  int status = 0;
  pid_t r;
  do r = ::waitpid(pid_, &status, 0);
  while (r < 0 && errno == EINTR);
  reaped_ = true;  // even on error (ECHILD: someone else reaped it), there is nothing left to wait for
  status_ = r == pid_ ? status : -1;
  return status_;
}

std::string CriuProcess::captured_output() const {
  if (!capture_) return {};
  off_t size = ::lseek(capture_.get(), 0, SEEK_END);
  if (size <= 0) return {};
  off_t start = size > static_cast<off_t>(kCaptureTail) ? size - kCaptureTail : 0;
  std::string out(static_cast<size_t>(size - start), '\0');
  ssize_t n = ::pread(capture_.get(), out.data(), out.size(), start);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

std::string describe_wait_status(int status) {
  if (status < 0) return "was reaped by someone else (status unknown)";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::sigdescr_np(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace cryo::checkpoint
