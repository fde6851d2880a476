#include "sentry/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "base/error.h"
#include "base/fd.h"

namespace cryo::sentry {

pid_t spawn_sentry(const std::string& sentry_binary, const std::string& dir, std::chrono::milliseconds timeout) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe for the sentry's readiness");
  UniqueFd ready_r(p[0]), ready_w(p[1]);
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> args = {sentry_binary, "--sandbox-dir", dir, "--ready-fd", "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int wfd = ready_w.get();

  pid_t mid = ::fork();
  if (mid < 0) throw_errno("fork to start the sentry");
  if (mid == 0) {
    ::setsid();
    pid_t pid = ::fork();
    if (pid != 0) ::_exit(pid < 0 ? 1 : 0);
    int null = ::open("/dev/null", O_RDWR);
    if (null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (wfd == 3)
      ::fcntl(3, F_SETFD, 0);
    else
      ::dup2(wfd, 3);
    ::syscall(SYS_close_range, 4, ~0U, 0);
    // cryod blocks its stop signals in every thread; the sentry must not inherit that mask.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir("/") != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ready_w.reset();
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }

  // The sentry writes "pid N" first, then "ok" or "error: ...".
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  pid_t sentry_pid = 0;
  for (;;) {
    size_t nl;
    while ((nl = text.find('\n')) != std::string::npos) {
      std::string line = text.substr(0, nl);
      text.erase(0, nl + 1);
      if (line.rfind("pid ", 0) == 0) sentry_pid = std::atoi(line.c_str() + 4);
      else if (line == "ok") return sentry_pid;
      else if (line.rfind("error: ", 0) == 0) throw Error("sentry for `" + dir + "`: " + line.substr(7));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (sentry_pid > 0) ::kill(sentry_pid, SIGKILL);
      throw Error("sentry for `" + dir + "` did not come up within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd{ready_r.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) throw_errno("wait for the sentry");
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(ready_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("sentry for `" + dir + "` exited before the sandbox was up (see " + dir + "/sentry.log)");
    text.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace cryo::sentry
