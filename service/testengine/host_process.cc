#include "service/testengine/host_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"

namespace cryo::service::testengine {
namespace {

struct Pipe {
  UniqueFd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// posix_spawn attribute/file-action objects with their destroy calls.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

HostProcess spawn_host_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                               const std::string& cwd) {
  Pipe in = make_pipe(), out = make_pipe(), err = make_pipe();
  SpawnSetup s;
  posix_spawn_file_actions_adddup2(&s.actions, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&s.actions, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&s.actions, err.write.get(), 2);
  posix_spawn_file_actions_addchdir_np(&s.actions, cwd.c_str());
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);

  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  HostProcess p;
  int rc = posix_spawnp(&p.pid, argv[0].c_str(), &s.actions, &s.attr, args.data(), envp.data());
  if (rc != 0) throw SysError(rc, "spawn `" + argv[0] + "`");
  p.stdin_fd = std::move(in.write);
  p.stdout_fd = std::move(out.read);
  p.stderr_fd = std::move(err.read);
  return p;
}

PumpResult pump_host_process(HostProcess& p, std::string_view input, bool close_stdin,
                             std::chrono::steady_clock::time_point deadline,
                             const std::function<void(std::string_view)>& on_stdout,
                             const std::function<void(std::string_view)>& on_stderr) {
  // Initial stdin is written in full up front; a child that never reads it is killed at the deadline.
  if (!input.empty()) {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = ::write(p.stdin_fd.get(), input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  if (close_stdin) p.stdin_fd.reset();
  PumpResult result;
  char buf[65536];
  while (p.stdout_fd || p.stderr_fd) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && !result.timed_out) {
      result.timed_out = true;
      ::kill(-p.pid, SIGKILL);
    }
    pollfd fds[2] = {{p.stdout_fd.get(), POLLIN, 0}, {p.stderr_fd.get(), POLLIN, 0}};
    int wait_ms = result.timed_out ? 100 : static_cast<int>(std::min<int64_t>(left.count(), 100));
    if (::poll(fds, 2, wait_ms) < 0 && errno != EINTR) throw_errno("poll command output");
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      UniqueFd& fd = i == 0 ? p.stdout_fd : p.stderr_fd;
      if (n <= 0) {
        fd.reset();
        continue;
      }
      auto& cb = i == 0 ? on_stdout : on_stderr;
      if (cb) cb(std::string_view(buf, static_cast<size_t>(n)));
    }
  }
  int status = 0;
  while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  return result;
}

}  // namespace cryo::service::testengine
