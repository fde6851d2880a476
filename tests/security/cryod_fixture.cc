#include "tests/security/cryod_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.h"

namespace cryo::sec {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

static const char* const kControllers[] = {"memory", "pids", "cpu", "cpuacct", "cpuset", "devices",
                                           "freezer", "blkio", "unified", "systemd"};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool pid_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::string s = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto p = s.rfind(')');
  return p != std::string::npos && p + 2 < s.size() && s[p + 2] != 'Z';
}

std::string cgroup_dir(const std::string& controller, const std::string& id) {
  return "/sys/fs/cgroup/" + controller + "/cryo/" + id;
}

std::set<std::string> cryo_cgroup_dirs() {
  std::set<std::string> out;
  for (auto* c : kControllers) {
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/sys/fs/cgroup/" + std::string(c) + "/cryo", ec))
      if (e.is_directory()) out.insert(e.path().string());
  }
  return out;
}

std::map<std::string, std::string> parse_probes(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) m[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return m;
}

// ---- Cryod ----

Cryod::Cryod(std::string dir)
    : dir_(std::move(dir)), state_(dir_ + "/state"), socket_(dir_ + "/cryod.sock") {}

Cryod::~Cryod() {
  if (pid_ > 0) stop();
}

std::string Cryod::log() const { return read_text(dir_ + "/cryod.log"); }

void Cryod::start() {
  ::unlink(socket_.c_str());
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork cryod");
  if (pid == 0) {
    int log = ::open((dir_ + "/cryod.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execl(CRYOD_BIN, CRYOD_BIN, "--socket", socket_.c_str(), "--state-dir", state_.c_str(), nullptr);
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (path_exists(socket_)) {
      try {
        service::Client(socket_).get("/v1/health");
        return;
      } catch (const std::exception&) {
      }
    }
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("cryod exited at start: " + log());
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("cryod did not come up: " + log());
}

static void wait_exit(pid_t pid) {
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

void Cryod::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait_exit(pid_);
  pid_ = -1;
}

void Cryod::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_exit(pid_);
  pid_ = -1;
}

// ---- Inventory ----

static std::string set_diff(const char* what, const std::set<std::string>& a, const std::set<std::string>& b) {
  std::string out;
  for (auto& x : b)
    if (!a.count(x)) out += std::string("  new ") + what + ": " + x + "\n";
  for (auto& x : a)
    if (!b.count(x)) out += std::string("  gone ") + what + ": " + x + "\n";
  return out;
}

std::string Inventory::diff(const Inventory& later) const {
  std::string out = set_diff("mount", mounts, later.mounts) + set_diff("cgroup", cgroups, later.cgroups) +
                    set_diff("frozen cgroup", frozen, later.frozen);
  std::set<std::string> a, b;
  for (auto p : processes) a.insert(std::to_string(p) + " " + read_text("/proc/" + std::to_string(p) + "/comm"));
  for (auto p : later.processes) b.insert(std::to_string(p) + " " + read_text("/proc/" + std::to_string(p) + "/comm"));
  out += set_diff("process", a, b);
  if (later.cryod_fds > cryod_fds)
    out += "  cryod fds " + std::to_string(cryod_fds) + " -> " + std::to_string(later.cryod_fds) + "\n";
  std::string files = set_diff("state file", state_files, later.state_files);
  if (!files.empty()) out += files.size() > 2000 ? files.substr(0, 2000) + "  ...\n" : files;
  if (later.state_bytes > state_bytes)
    out += "  state bytes " + std::to_string(state_bytes) + " -> " + std::to_string(later.state_bytes) + "\n";
  return out;
}

// ---- CryodTest ----

void CryodTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (real sandboxes)";
  char tmpl[] = "/tmp/cryo-sec-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  baseline_cgroups_ = cryo_cgroup_dirs();
  cryod_ = std::make_unique<Cryod>(dir_);
  cryod_->start();
}

void CryodTest::TearDown() {
  if (dir_.empty()) return;
  if (cryod_ && !cryod_->running()) {
    try {
      cryod_->start();
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  if (cryod_ && cryod_->running()) {
    for (auto& id : ids_) {
      try {
        client().del("/v1/sandboxes/" + id);
      } catch (const std::exception&) {
      }
    }
    cryod_->stop();
  }
  // Last resort, so that a failed test does not leave sandboxes running on the machine.
  for (auto& id : ids_) {
    std::string d = sandbox_dir(id);
    if (auto pid = sentry_pid(id); pid_alive(pid)) ::kill(pid, SIGKILL);
    for (auto* c : kControllers) {
      std::string procs = read_text(cgroup_dir(c, id) + "/cgroup.procs");
      std::istringstream in(procs);
      pid_t p;
      while (in >> p) ::kill(p, SIGKILL);
    }
  }
  if (!HasFailure()) remove_tree(dir_);
}

std::string CryodTest::create(const json& body) {
  auto r = client().post("/v1/sandboxes", body);
  std::string id = r.at("sandbox_id");
  ids_.insert(id);
  return id;
}

json CryodTest::sh(const std::string& id, const std::string& cmd, double timeout_s) {
  return client().post("/v1/sandboxes/" + id + "/commands", {{"cmd", cmd}, {"timeout", timeout_s}});
}

void CryodTest::put(const std::string& id, const std::string& path, const std::string& data, const char* mode) {
  client().put_bytes("/v1/sandboxes/" + id + "/files?path=" + service::Client::encode(path) + "&mode=" + mode, data);
}

void CryodTest::arm(const std::string& id) { put(id, "/tmp/attack", read_file(ATTACK_BIN), "755"); }

void CryodTest::kill_sandbox(const std::string& id) { client().del("/v1/sandboxes/" + id); }

std::string CryodTest::snapshot(const std::string& id) {
  return client().post("/v1/sandboxes/" + id + "/snapshots").at("snapshot_id");
}

static pid_t pid_from(const std::string& path) {
  auto t = read_file_if_exists(path);
  if (!t) return 0;
  try {
    return static_cast<pid_t>(std::stol(*t));
  } catch (...) {
    return 0;
  }
}

pid_t CryodTest::sentry_pid(const std::string& id) const { return pid_from(sandbox_dir(id) + "/sentry.pid"); }
pid_t CryodTest::init_pid(const std::string& id) const { return pid_from(sandbox_dir(id) + "/init.pid"); }

Inventory CryodTest::inventory() {
  Inventory inv;
  const std::string& state = cryod_->state();
  {
    std::istringstream in(read_text("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string a, b, c, d, point;
      f >> a >> b >> c >> d >> point;
      if (point.rfind(dir_, 0) == 0) inv.mounts.insert(point);
    }
  }
  // Sandboxes of this cryod: the ids the test was given, and any sbx- cgroup that appeared since
  // the test began (a create interrupted by a crash never reported its id).
  std::set<std::string> known = ids_;
  for (auto& dir : cryo_cgroup_dirs()) {
    std::string name = fs::path(dir).filename();
    if (!baseline_cgroups_.count(dir) && name.rfind("sbx-", 0) == 0) known.insert(name);
  }
  for (auto& dir : cryo_cgroup_dirs())
    if (known.count(fs::path(dir).filename())) inv.cgroups.insert(dir);
  for (auto& id : known) {
    std::string f = read_text(cgroup_dir("freezer", id) + "/freezer.state");
    if (!f.empty() && f.rfind("THAWED", 0) != 0) inv.frozen.insert(id + " " + f);
    std::string v2 = read_text(cgroup_dir("unified", id) + "/cgroup.freeze");
    if (!v2.empty() && v2[0] == '1') inv.frozen.insert(id + " cgroup.freeze=1");
  }
  DIR* d = ::opendir("/proc");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || !pid_alive(pid)) continue;
    std::string base = "/proc/" + std::string(e->d_name);
    std::string cg = read_text(base + "/cgroup");
    bool mine = false;
    for (auto& id : known)
      if (cg.find("/cryo/" + id + "\n") != std::string::npos) mine = true;
    std::string cmd = read_text(base + "/cmdline");
    if (cmd.find(state + "/") != std::string::npos) mine = true;
    if (mine) inv.processes.insert(static_cast<pid_t>(pid));
  }
  if (d) ::closedir(d);
  if (cryod_ && cryod_->running()) {
    inv.cryod_fds = 0;
    std::error_code ec;
    for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/" + std::to_string(cryod_->pid()) + "/fd", ec))
      ++inv.cryod_fds;
  }
  for (auto* sub : {"sandboxes", "snapshots", "run"}) {
    std::error_code ec;
    std::string root = state + "/" + sub;
    struct stat rs;
    if (::stat(root.c_str(), &rs) != 0) continue;
    dev_t root_dev = rs.st_dev;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->path().filename() == "criu-capabilities.json") continue;  // a cache of the CRIU probe
      // The runtime's layer store of snapshot diffs holds a diff for as long as a snapshot or a
      // running clone uses it, which outlives a single test's sandboxes; the soak test checks it
      // empties once every snapshot is deleted.
      if (it->path().string() == root + "/layers") {
        it.disable_recursion_pending();
        continue;
      }
      struct stat st;
      if (::lstat(it->path().c_str(), &st) != 0) continue;
      // A mounted sandbox root is counted as a mount, not walked into.
      if (S_ISDIR(st.st_mode) && st.st_dev != root_dev) it.disable_recursion_pending();
      inv.state_files.insert(std::string(sub) + it->path().string().substr(root.size()));
      inv.state_bytes += st.st_blocks * 512;
    }
  }
  return inv;
}

std::string CryodTest::settle(const Inventory& base, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::string d;
  for (;;) {
    d = base.diff(inventory());
    if (d.empty() || std::chrono::steady_clock::now() > deadline) return d;
    std::this_thread::sleep_for(200ms);
  }
}

}  // namespace cryo::sec
