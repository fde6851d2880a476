#include "tests/support/harness.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "base/file.h"

extern char** environ;

namespace cryo::testing {
namespace {

std::vector<char*> c_args(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string slurp(int fd) {
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

Result run(const std::vector<std::string>& argv_in) {
  std::vector<std::string> argv = argv_in;
  auto args = c_args(argv);
  char out_tmpl[] = "/tmp/cryo-test-out.XXXXXX", err_tmpl[] = "/tmp/cryo-test-err.XXXXXX";
  int out = ::mkstemp(out_tmpl), err = ::mkstemp(err_tmpl);
  ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  pid_t pid;
  Result r;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) == 0) r.code = wait_exit(pid);
  posix_spawn_file_actions_destroy(&fa);
  ::lseek(out, 0, SEEK_SET);
  ::lseek(err, 0, SEEK_SET);
  r.out = slurp(out);
  r.err = slurp(err);
  ::close(out);
  ::close(err);
  return r;
}

pid_t spawn(const std::vector<std::string>& argv_in) {
  std::vector<std::string> argv = argv_in;
  auto args = c_args(argv);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
  pid_t pid = -1;
  posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/cryo-it.XXXXXX";
  path_ = ::mkdtemp(tmpl);
}

TempDir::~TempDir() {
  // Detach whatever a test left mounted below us, deepest first.
  std::istringstream in(read_file("/proc/self/mountinfo"));
  std::vector<std::string> mounts;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, d, mp;
    f >> a >> b >> c >> d >> mp;
    if (mp.rfind(path_ + "/", 0) == 0) mounts.push_back(mp);
  }
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  try {
    remove_tree(path_);
  } catch (...) {
  }
}

void copy_tree(const std::string& from, const std::string& to) {
  make_dirs(to);
  run({"/bin/cp", "-a", from + "/.", to + "/"});
}

std::string read_text(const std::string& path) { return read_file_if_exists(path).value_or(""); }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool exists(const std::string& path) { return path_exists(path); }

bool eventually(const std::function<bool()>& pred, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

long read_counter(const std::string& path) {
  std::string t = read_text(path);
  try {
    return t.empty() ? -1 : std::stol(t);
  } catch (...) {
    return -1;
  }
}

nlohmann::json test_config(const std::string& cryo, const std::string& dir, const std::vector<std::string>& args) {
  run({cryo, "spec", "--bundle", dir});
  nlohmann::json c = nlohmann::json::parse(read_file(dir + "/config.json"));
  c["process"]["terminal"] = false;
  c["root"]["readonly"] = false;
  c["process"]["args"] = args;
  return c;
}

}  // namespace cryo::testing
