#include "runtime/process/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/resource.h>

#include <climits>
#include <cstdlib>
#include <vector>

#include "base/error.h"
#include "runtime/process/credentials.h"
#include "runtime/process/seccomp.h"

namespace cryo::runtime {
namespace {

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
  return "";
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// close_range(2) may be refused: the container's seccomp profile is often loaded by now, and
// profiles older than the call (Docker's before 2020, runtime-tools' default) answer it with an
// errno. Then each fd is marked by hand, as runc does: those listed in /proc/self/fd, or, with no
// /proc in the container, every number below the soft RLIMIT_NOFILE.
void mark_cloexec_by_hand(int first, int close_range_errno) {
  if (DIR* d = ::opendir("/proc/self/fd")) {
    int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      int fd = std::atoi(e->d_name);
      if (fd < first || fd == self || ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 || errno == EBADF) continue;
      int err = errno;
      throw SysError(err, "mark fd " + std::to_string(fd) + " close-on-exec (close_range refused: " +
                              errno_name(close_range_errno) + ")");
    }
    ::closedir(d);
    return;
  }
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    throw SysError(close_range_errno, "mark inherited fds close-on-exec (no /proc/self/fd, no RLIMIT_NOFILE)");
  for (rlim_t fd = first; fd < rl.rlim_cur && fd < static_cast<rlim_t>(INT_MAX); ++fd)
    if (::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF)
      throw_errno("mark fd " + std::to_string(fd) + " close-on-exec");
}

}  // namespace

void mark_fds_cloexec_from(int first) {
  if (::syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  mark_cloexec_by_hand(first, errno);
}

void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
}

void rebind_null_stdio() {
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) continue;
    int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null < 0) return;  // no /dev/null in the container: keep the host's
    ::dup2(null, fd);
    ::close(null);
  }
}

std::string resolve_executable(const oci::Process& p) {
  const std::string& name = p.args.at(0);
  if (name.find('/') != std::string::npos) {
    std::string path = name[0] == '/' ? name : p.cwd + "/" + name;
    if (!is_executable_file(path)) throw SysError(errno ? errno : EACCES, "exec `" + name + "` (process.args[0])");
    return path;
  }
  std::string path_var = env_value(p.env, "PATH");
  if (path_var.empty()) path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t pos = 0;
  while (pos <= path_var.size()) {
    size_t next = path_var.find(':', pos);
    if (next == std::string::npos) next = path_var.size();
    std::string dir = path_var.substr(pos, next - pos);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (is_executable_file(candidate)) return candidate;
    pos = next + 1;
  }
  throw Error("exec `" + name + "` (process.args[0]): executable file not found in $PATH");
}

void enter_cwd(const oci::Process& p) {
  if (::chdir(p.cwd.c_str()) != 0) throw_errno("chdir to `" + p.cwd + "` (process.cwd)");
  char buf[PATH_MAX];
  // A cwd outside the root (a leaked directory fd) shows as "(unreachable)/...".
  if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
    throw Error("process.cwd `" + p.cwd + "` is outside the container root");
}

bool has_notify_action(const oci::Seccomp& s) {
  for (auto& r : s.syscalls)
    if (r.action == "SCMP_ACT_NOTIFY") return true;
  return false;
}

bool seccomp_loads_early(const oci::Process& p, const std::optional<oci::Seccomp>& s) {
  return s && (!p.no_new_privileges || has_notify_action(*s));
}

void finish_and_exec(const oci::Process& p, const std::string& executable,
                     const std::optional<oci::Seccomp>& seccomp, bool seccomp_loaded, int preserve_fds) {
  std::function<void()> load;
  if (seccomp && !seccomp_loaded) load = [&] { load_seccomp(*seccomp).release(); };
  finish_and_exec_with(p, executable, load, preserve_fds);
}

void finish_and_exec_with(const oci::Process& p, const std::string& executable,
                          const std::function<void()>& load_seccomp_late, int preserve_fds,
                          const std::function<void()>& exec_first) {
  apply_user_and_capabilities(p);
  if (load_seccomp_late) load_seccomp_late();
  // Only stdio and --preserve-fds reach the container: everything else closes on exec.
  for (int fd = 3; fd < 3 + preserve_fds; ++fd) ::fcntl(fd, F_SETFD, 0);
  mark_fds_cloexec_from(3 + preserve_fds);
  if (exec_first) exec_first();
  std::vector<std::string> args = p.args, env = p.env;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  ::execve(executable.c_str(), argv.data(), envp.data());
  throw_errno("exec `" + executable + "`");
}

}  // namespace cryo::runtime
