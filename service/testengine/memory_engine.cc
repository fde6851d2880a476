#include "service/testengine/memory_engine.h"

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/file.h"
#include "service/testengine/host_process.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;
using testengine::HostProcess;

struct BackgroundCommand {
  HostProcess process;
  std::mutex stdin_mu;
  std::thread pump;
  std::atomic<bool> running{true};
};

struct Box {
  std::string root;
  SandboxSpec spec;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<BackgroundCommand>> commands;
  int next_command = 1;
};

class MemoryEngine : public SandboxEngine {
 public:
  explicit MemoryEngine(std::string work_dir) : work_dir_(std::move(work_dir)) {
    ::signal(SIGPIPE, SIG_IGN);  // writing stdin of a command that exited must not kill cryod
    remove_tree(work_dir_);  // nothing survives a restart: no sandbox is alive any more
    make_dirs(work_dir_, 0700);
  }
  ~MemoryEngine() override {
    for (auto& id : running()) kill(id);
  }

  void create(const std::string& id, const SandboxSpec& spec) override {
    auto box = std::make_shared<Box>();
    box->root = work_dir_ + "/" + id;
    box->spec = spec;
    make_dirs(box->root, 0755);
    if (!spec.snapshot_dir.empty()) {
      std::error_code ec;
      fs::copy(spec.snapshot_dir + "/root", box->root, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               ec);
      if (ec) throw cryo::Error("restore `" + spec.snapshot_dir + "`: " + ec.message());
    }
    std::lock_guard lock(mu_);
    boxes_[id] = box;
  }

  CommandResult run(const std::string& id, const CommandSpec& cmd, const OutputSink& sink) override {
    auto box = find(id);
    auto p = testengine::spawn_host_process(cmd.argv, environment(*box, cmd), working_dir(*box, cmd));
    CommandResult r;
    auto res = testengine::pump_host_process(
        p, cmd.stdin_data, true, deadline(cmd),
        [&](std::string_view d) {
          r.stdout_data.append(d);
          if (sink.on_stdout) sink.on_stdout(d);
        },
        [&](std::string_view d) {
          r.stderr_data.append(d);
          if (sink.on_stderr) sink.on_stderr(d);
        });
    r.exit_code = res.exit_code;
    r.timed_out = res.timed_out;
    return r;
  }

  std::string start_command(const std::string& id, const CommandSpec& cmd, OutputSink sink) override {
    auto box = find(id);
    auto bg = std::make_shared<BackgroundCommand>();
    bg->process = testengine::spawn_host_process(cmd.argv, environment(*box, cmd), working_dir(*box, cmd));
    std::string cmd_id;
    {
      std::lock_guard lock(box->mu);
      cmd_id = "cmd-" + std::to_string(box->next_command++);
      box->commands[cmd_id] = bg;
    }
    bg->pump = std::thread([bg, cmd, sink = std::move(sink)] {
      // stdin stays open for write_stdin; the pump only reads output.
      auto res = testengine::pump_host_process(bg->process, {}, false, deadline(cmd), sink.on_stdout, sink.on_stderr);
      bg->running = false;
      {
        std::lock_guard lock(bg->stdin_mu);
        bg->process.stdin_fd.reset();
      }
      if (sink.on_exit) sink.on_exit(res.exit_code);
    });
    if (!cmd.stdin_data.empty()) write_stdin(id, cmd_id, cmd.stdin_data, false);
    return cmd_id;
  }

  void write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close) override {
    auto bg = find_command(id, cmd_id);
    std::lock_guard lock(bg->stdin_mu);
    if (!bg->process.stdin_fd) throw Conflict("command `" + cmd_id + "`: stdin is closed");
    write_all(bg->process.stdin_fd.get(), data.data(), data.size(), "stdin of command `" + cmd_id + "`");
    if (close) bg->process.stdin_fd.reset();
  }

  void kill_command(const std::string& id, const std::string& cmd_id, int sig) override {
    auto bg = find_command(id, cmd_id);
    if (bg->running) ::kill(-bg->process.pid, sig);
  }

  std::vector<std::string> list_commands(const std::string& id) override {
    auto box = find(id);
    std::lock_guard lock(box->mu);
    std::vector<std::string> out;
    for (auto& [cid, c] : box->commands)
      if (c->running) out.push_back(cid);
    return out;
  }

  std::string read_file(const std::string& id, const std::string& path) override {
    auto p = resolve(id, path);
    auto st = stat_path(p, path);
    if (S_ISDIR(st.st_mode)) throw BadRequest("path `" + path + "`: is a directory");
    return cryo::read_file(p);
  }

  void write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) override {
    auto p = resolve(id, path);
    make_dirs(fs::path(p).parent_path(), 0755);
    write_file_atomic(p, std::string(data), mode);
  }

  std::vector<FileEntry> list_dir(const std::string& id, const std::string& path) override {
    auto p = resolve(id, path);
    auto st = stat_path(p, path);
    if (!S_ISDIR(st.st_mode)) throw BadRequest("path `" + path + "`: not a directory");
    std::vector<FileEntry> out;
    for (auto& e : fs::directory_iterator(p)) {
      std::string inner = (fs::path(path) / e.path().filename()).lexically_normal();
      out.push_back(entry(e.path(), inner));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
    return out;
  }

  FileEntry stat(const std::string& id, const std::string& path) override {
    auto p = resolve(id, path);
    stat_path(p, path);
    return entry(p, fs::path(path).lexically_normal());
  }

  void remove(const std::string& id, const std::string& path, bool recursive) override {
    auto p = resolve(id, path);
    auto st = stat_path(p, path);
    if (p == find(id)->root) throw BadRequest("path `" + path + "`: cannot remove the root");
    std::error_code ec;
    if (S_ISDIR(st.st_mode) && recursive)
      fs::remove_all(p, ec);
    else
      fs::remove(p, ec);
    if (ec == std::errc::directory_not_empty) throw Conflict("path `" + path + "`: directory not empty");
    if (ec) throw cryo::Error("remove `" + path + "`: " + ec.message());
  }

  void make_dir(const std::string& id, const std::string& path) override {
    auto p = resolve(id, path);
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) throw cryo::Error("mkdir `" + path + "`: " + ec.message());
  }

  void snapshot(const std::string& id, const std::string& snapshot_dir) override {
    auto box = find(id);
    std::error_code ec;
    fs::copy(box->root, snapshot_dir + "/root", fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) throw cryo::Error("snapshot `" + id + "`: " + ec.message());
  }

  void kill(const std::string& id) override {
    std::shared_ptr<Box> box;
    {
      std::lock_guard lock(mu_);
      auto it = boxes_.find(id);
      if (it == boxes_.end()) throw NotFound("sandbox `" + id + "` not found");
      box = it->second;
      boxes_.erase(it);
    }
    std::map<std::string, std::shared_ptr<BackgroundCommand>> cmds;
    {
      std::lock_guard lock(box->mu);
      cmds.swap(box->commands);
    }
    for (auto& [cid, c] : cmds) {
      if (c->running) ::kill(-c->process.pid, SIGKILL);
      if (c->pump.joinable()) c->pump.join();
    }
    remove_tree(box->root);
  }

  bool alive(const std::string& id) override {
    std::lock_guard lock(mu_);
    return boxes_.count(id) > 0;
  }

  std::vector<std::string> running() override {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (auto& [id, b] : boxes_) out.push_back(id);
    return out;
  }

 private:
  static std::chrono::steady_clock::time_point deadline(const CommandSpec& cmd) {
    double t = cmd.timeout_s > 0 ? cmd.timeout_s : 24 * 3600.0;
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(t));
  }

  std::shared_ptr<Box> find(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = boxes_.find(id);
    if (it == boxes_.end()) throw NotFound("sandbox `" + id + "` not found");
    return it->second;
  }

  std::shared_ptr<BackgroundCommand> find_command(const std::string& id, const std::string& cmd_id) {
    auto box = find(id);
    std::lock_guard lock(box->mu);
    auto it = box->commands.find(cmd_id);
    if (it == box->commands.end()) throw NotFound("command `" + cmd_id + "` not found in sandbox `" + id + "`");
    return it->second;
  }

  // Maps an in-sandbox absolute path into the box directory, refusing `..` escapes.
  std::string resolve(const std::string& id, const std::string& path) {
    if (path.empty() || path[0] != '/') throw BadRequest("path `" + path + "`: must be absolute");
    fs::path rel = fs::path(path).lexically_normal().relative_path();
    if (!rel.empty() && *rel.begin() == "..") throw BadRequest("path `" + path + "`: escapes the sandbox root");
    return (fs::path(find(id)->root) / rel).lexically_normal().string();
  }

  static struct stat stat_path(const std::string& host, const std::string& path) {
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) throw NotFound("path `" + path + "` not found");
      throw_errno("stat `" + path + "`");
    }
    return st;
  }

  static FileEntry entry(const std::string& host, const std::string& inner) {
    struct stat st = stat_path(host, inner);
    FileEntry e;
    e.path = inner.empty() ? "/" : inner;
    e.name = fs::path(e.path).filename();
    if (e.path == "/") e.name = "/";
    e.type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "other";
    e.size = st.st_size;
    e.mode = st.st_mode & 07777;
    e.mtime = st.st_mtime;
    return e;
  }

  std::map<std::string, std::string> environment(const Box& box, const CommandSpec& cmd) {
    std::map<std::string, std::string> env = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                                              {"HOME", box.root},
                                              {"CRYO_SANDBOX_ROOT", box.root}};
    for (auto& [k, v] : box.spec.env) env[k] = v;
    for (auto& [k, v] : cmd.env) env[k] = v;
    return env;
  }

  std::string working_dir(const Box& box, const CommandSpec& cmd) {
    std::string cwd = cmd.cwd.empty() ? box.spec.cwd : cmd.cwd;
    fs::path rel = fs::path(cwd).lexically_normal().relative_path();
    if (!rel.empty() && *rel.begin() == "..") throw BadRequest("field `cwd`: escapes the sandbox root");
    auto dir = (fs::path(box.root) / rel).string();
    if (!fs::is_directory(dir)) throw BadRequest("field `cwd`: `" + cwd + "` is not a directory in the sandbox");
    return dir;
  }

  std::string work_dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Box>> boxes_;
};

}  // namespace

std::unique_ptr<SandboxEngine> make_memory_engine(const std::string& work_dir) {
  return std::make_unique<MemoryEngine>(work_dir);
}

}  // namespace cryo::service
