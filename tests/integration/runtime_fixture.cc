#include "tests/integration/runtime_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace cryo::it {
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string file_bytes(const std::string& path) { return read_text(path); }

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

namespace {

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::atomic<int> counter{0};

}  // namespace

void RuntimeTest::SetUp() {
  ASSERT_EQ(::geteuid(), 0u) << "the runtime integration tests need root";
  char tmpl[] = "/tmp/cryo-it-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0755);  // a user-namespaced root must be able to reach its rootfs
  bundle_ = dir_ + "/bundle";
  rootfs_ = bundle_ + "/rootfs";
  state_root_ = dir_ + "/state";
  fs::create_directories(bundle_);
  Outcome cp = run_cmd({"cp", "-a", CRYO_ROOTFS, rootfs_});
  ASSERT_EQ(cp.code, 0) << cp.text();
  fs::copy_file(IT_HELPER_BIN, rootfs_ + "/bin/it_helper");
  fs::create_directories(rootfs_ + "/tmp");
  Outcome spec = cryo({"spec", "--bundle", bundle_});
  ASSERT_EQ(spec.code, 0) << spec.text();
  config_ = nlohmann::json::parse(read_text(bundle_ + "/config.json"));
  config_["process"]["terminal"] = false;
  config_["root"]["readonly"] = false;
  save_config();
}

void RuntimeTest::TearDown() {
  for (auto& id : ids_) {
    cryo({"delete", "--force", id}, {{}, {}, 30});
    expect_nothing_left(id);
  }
  // Detach anything a test mounted under the temp dir, then remove it.
  run_cmd({"sh", "-c", "grep -o ' " + dir_ + "[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"});
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string RuntimeTest::new_id() {
  std::string id = "it" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  ids_.push_back(id);
  return id;
}

void RuntimeTest::save_config() { write_text(bundle_ + "/config.json", config_.dump(2)); }

void RuntimeTest::set_args(const std::vector<std::string>& args) {
  config_["process"]["args"] = args;
  save_config();
}

Spawned RuntimeTest::spawn_cmd(const std::vector<std::string>& argv, const RunOptions& o) {
  Spawned s;
  int n = counter++;
  s.out_path = dir_ + "/out." + std::to_string(n);
  s.err_path = dir_ + "/err." + std::to_string(n);
  std::string in_path = dir_ + "/in." + std::to_string(n);
  write_text(in_path, o.stdin_data);
  std::vector<std::string> copy = argv;
  std::vector<char*> cargv;
  for (auto& a : copy) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int in = ::open(in_path.c_str(), O_RDONLY);
    int out = ::open(s.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(s.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // Move the extra fds out of the way first, then into place, without close-on-exec.
    std::map<int, int> tmp;
    for (auto& [child, ours] : o.fds) tmp[child] = ::fcntl(ours, F_DUPFD_CLOEXEC, 100);
    for (auto& [child, t] : tmp) ::dup2(t, child);
    for (int fd = 3; fd < 100; ++fd)
      if (!o.fds.count(fd)) ::close(fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  s.pid = pid;
  return s;
}

Outcome RuntimeTest::wait_spawned(const Spawned& s, double timeout_s) {
  Outcome r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  for (;;) {
    pid_t p = ::waitpid(s.pid, &status, WNOHANG);
    if (p == s.pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(s.pid, SIGKILL);
      ::waitpid(s.pid, &status, 0);
      r.err = "[timed out after " + std::to_string(timeout_s) + " s]\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.code = exit_code(status);
  r.out = read_text(s.out_path);
  r.err += read_text(s.err_path);
  return r;
}

Outcome RuntimeTest::run_cmd(const std::vector<std::string>& argv, const RunOptions& o) {
  return wait_spawned(spawn_cmd(argv, o), o.timeout_s);
}

Outcome RuntimeTest::cryo(const std::vector<std::string>& args, const RunOptions& o) {
  std::vector<std::string> argv = {CRYO_BIN, "--root", state_root_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_cmd(argv, o);
}

Outcome RuntimeTest::run_container(const std::vector<std::string>& args) {
  set_args(args);
  return cryo({"run", "--bundle", bundle_, new_id()});
}

std::string RuntimeTest::start_detached(const std::vector<std::string>& args) {
  set_args(args);
  std::string id = new_id();
  Outcome r = cryo({"run", "-d", "--bundle", bundle_, id});
  EXPECT_EQ(r.code, 0) << r.text();
  return id;
}

nlohmann::json RuntimeTest::state(const std::string& id) {
  Outcome r = cryo({"state", id});
  if (r.code != 0) return nullptr;
  return nlohmann::json::parse(r.out);
}

std::string RuntimeTest::status(const std::string& id) {
  auto s = state(id);
  return s.is_null() ? "<none>" : s.value("status", "<none>");
}

bool RuntimeTest::wait_status(const std::string& id, const std::string& want, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (status(id) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void RuntimeTest::add_mount(const std::string& dest, const std::string& type, const std::string& source,
                            const std::vector<std::string>& options) {
  config_["mounts"].push_back({{"destination", dest}, {"type", type}, {"source", source}, {"options", options}});
  save_config();
}

void RuntimeTest::add_tmpfs(const std::string& dest) { add_mount(dest, "tmpfs", "tmpfs", {"nosuid", "nodev"}); }

std::vector<std::string> RuntimeTest::cgroup_dirs(const std::string& id) const {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator("/sys/fs/cgroup")) {
    std::string d = e.path().string() + "/cryo/" + id;
    out.push_back(d);
  }
  out.push_back("/sys/fs/cgroup/cryo/" + id);  // pure v2 layout
  return out;
}

std::vector<pid_t> RuntimeTest::processes_mentioning(const std::string& needle) const {
  std::vector<pid_t> out;
  for (auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = read_text(e.path().string() + "/cmdline");
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle + " ") != std::string::npos || (cmd.size() >= needle.size() && cmd.find(needle) == cmd.size() - needle.size()))
      out.push_back(std::stoi(name));
  }
  return out;
}

void RuntimeTest::expect_nothing_left(const std::string& id) {
  EXPECT_FALSE(fs::exists(state_root_ + "/" + id)) << "state of " << id << " left behind";
  for (auto& d : cgroup_dirs(id)) EXPECT_FALSE(fs::exists(d)) << "cgroup left behind: " << d;
  auto pids = processes_mentioning(id);
  EXPECT_TRUE(pids.empty()) << "processes of " << id << " left behind: " << (pids.empty() ? 0 : pids[0]);
  for (pid_t p : pids) ::kill(p, SIGKILL);
}

}  // namespace cryo::it
