#include "runtime/hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "base/file.h"

namespace cryo::runtime {
namespace {

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int wait_with_timeout(pid_t pid, int timeout_s, bool* timed_out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (auto delay = std::chrono::microseconds(200);; delay = std::min(delay * 2, std::chrono::microseconds(20000))) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) throw_errno("wait for hook");
    if (timeout_s > 0 && std::chrono::steady_clock::now() > deadline) {
      *timed_out = true;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(delay);
  }
}

void run_hook(const oci::Hook& hook, const std::string& name, const std::string& state) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw_errno(name + ": pipe");
  UniqueFd in_read(in[0]), in_write(in[1]);
  UniqueFd output(::memfd_create("cryo-hook-output", MFD_CLOEXEC));
  if (!output) throw_errno(name + ": memfd_create");

  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<std::string> env = hook.env;
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno(name + ": fork");
  if (pid == 0) {
    ::dup2(in_read.get(), 0);
    ::dup2(output.get(), 1);
    ::dup2(output.get(), 2);
    ::execve(hook.path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  in_read.reset();
  // A hook that does not read stdin must not make us fail: ignore EPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    write_all(in_write.get(), state.data(), state.size(), "write state");
  } catch (const SysError&) {
  }
  in_write.reset();
  bool timed_out = false;
  int status = wait_with_timeout(pid, hook.timeout.value_or(0), &timed_out);
  if (timed_out) throw Error(name + " (`" + hook.path + "`) timed out after " + std::to_string(*hook.timeout) + "s");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  ::lseek(output.get(), 0, SEEK_SET);
  std::string out = read_fd(output.get());
  if (out.size() > 2000) out = out.substr(out.size() - 2000);
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && ::access(hook.path.c_str(), X_OK) != 0)
    how = "cannot be executed: " + errno_name(errno);
  throw Error(name + " (`" + hook.path + "`) " + how + (out.empty() ? "" : ": " + out));
}

}  // namespace

void run_hooks(const std::vector<oci::Hook>& hooks, const std::string& kind, const nlohmann::json& state) {
  std::string text = state.dump();
  for (size_t i = 0; i < hooks.size(); ++i) run_hook(hooks[i], kind + " hook #" + std::to_string(i), text);
}

void run_hooks_warning_on_failure(const std::vector<oci::Hook>& hooks, const std::string& kind,
                                  const nlohmann::json& state) {
  std::string text = state.dump();
  for (size_t i = 0; i < hooks.size(); ++i) {
    try {
      run_hook(hooks[i], kind + " hook #" + std::to_string(i), text);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cryo: warning: %s\n", e.what());
    }
  }
}

}  // namespace cryo::runtime
