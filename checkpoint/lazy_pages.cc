#include "checkpoint/lazy_pages.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "base/file.h"
#include "checkpoint/criu.h"
#include "checkpoint/criu_log.h"
#include "checkpoint/criu_process.h"

namespace cryo::checkpoint {
namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string log_excerpt_of(const LazyPagesOptions& o) {
  auto log = read_file_if_exists(o.work_dir + "/" + o.log_file);
  if (!log) return "";
  std::string ex = log_excerpt(*log);
  return ex.empty() ? "" : "\ncriu log " + o.work_dir + "/" + o.log_file + ":\n" + ex;
}

}  // namespace

LazyPagesDaemon LazyPagesDaemon::start(const LazyPagesOptions& o) {
  std::string pidfile = o.work_dir + "/lazy-pages.pid";
  ::unlink(pidfile.c_str());
  // `--daemon`: criu forks the daemon once its socket listens, writes the pid file and exits 0,
  // so the daemon is nobody's child here and outlives this process.
  std::vector<std::string> args = {o.binary,       "lazy-pages", "--daemon", "--pidfile", pidfile,
                                   "--images-dir", o.images_dir, "--work-dir", o.work_dir,
                                   "--log-file",   o.log_file,   "-v" + std::to_string(o.log_level)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t child = ::fork();
  if (child < 0) throw CriuError(std::string("criu lazy-pages: fork: ") + std::strerror(errno));
  if (child == 0) {
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    o.kerndat.apply_in_child();
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  LazyPagesDaemon d;
  d.opts_ = o;
  d.starter_ = child;
  d.starter_fd_.reset(pidfd_open(child));
  return d;
}

void LazyPagesDaemon::wait_ready() {
  if (starter_ < 0) return;
  const LazyPagesOptions& o = opts_;
  pid_t child = std::exchange(starter_, -1);
  if (starter_fd_) {
    struct pollfd p = {starter_fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, o.ready_timeout_ms) == 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
      throw CriuError("criu lazy-pages: not ready within " + std::to_string(o.ready_timeout_ms) + " ms; killed it" +
                      log_excerpt_of(o));
    }
    starter_fd_.reset();
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw CriuError("criu lazy-pages: " + describe_wait_status(status) + log_excerpt_of(o));

  std::string pidfile = o.work_dir + "/lazy-pages.pid";
  try {
    pid_ = std::stoi(read_file(pidfile));
  } catch (const std::exception& e) {
    throw CriuError("criu lazy-pages: no daemon pid in " + pidfile + ": " + e.what() + log_excerpt_of(o));
  }
  ::unlink(pidfile.c_str());
  pidfd_.reset(pidfd_open(pid_));
  if (!pidfd_) {
    // Gone already: it failed after forking (its log says why).
    throw CriuError("criu lazy-pages: the daemon (pid " + std::to_string(pid_) + ") exited at once" +
                    log_excerpt_of(o));
  }
}

void LazyPagesDaemon::kill() {
  if (starter_ > 0) {  // still starting: the daemon it forks would wait for a restore forever
    ::kill(starter_, SIGKILL);
    ::waitpid(starter_, nullptr, 0);
    starter_ = -1;
    starter_fd_.reset();
    ::unlink((opts_.work_dir + "/lazy-pages.pid").c_str());
  }
  if (pidfd_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  pidfd_.reset();
}

LazyPagesDaemon::LazyPagesDaemon(LazyPagesDaemon&& o) noexcept
    : opts_(std::move(o.opts_)),
      starter_(std::exchange(o.starter_, -1)),
      starter_fd_(std::move(o.starter_fd_)),
      pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::move(o.pidfd_)) {}

void LazyPagesDaemon::release() { pidfd_.reset(); }

LazyPagesDaemon::~LazyPagesDaemon() { kill(); }

}  // namespace cryo::checkpoint
