#include "service/sentry_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "base/file.h"
#include "fsimage/fsimage.h"
#include "runtime/state_store.h"
#include "sentry/binaries.h"
#include "sentry/client.h"
#include "sentry/container.h"
#include "sentry/in_root.h"
#include "sentry/layout.h"
#include "sentry/protocol.h"
#include "sentry/spawn.h"
#include "service/sandbox_config.h"
#include "service/sandbox_files.h"
#include "service/sandbox_image.h"

namespace cryo::service {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using sentry::SandboxPaths;
using sentry::SentryConfig;

constexpr auto kCreateTimeout = 60s;
constexpr auto kRestoreTimeout = 180s;
constexpr auto kKillTimeout = 120s;
constexpr auto kPingTimeout = 5s;

// Exit code reported for a background command whose stream ended without one: the sentry (and
// with it the command) was killed.
constexpr int kKilledExitCode = 128 + SIGKILL;

void validate_id(const std::string& id) {
  try {
    runtime::validate_container_id(id);
  } catch (const Error& e) {
    throw BadRequest(std::string("sandbox id: ") + e.what());
  }
}

// Maps sentry replies to the errors the HTTP layer knows.
[[noreturn]] void rethrow_sentry(const std::string& id) {
  try {
    throw;
  } catch (const sentry::SentryError& e) {
    if (e.kind() == "bad_request") throw BadRequest(e.what());
    if (e.kind() == "not_found") throw NotFound(e.what());
    if (e.kind() == "conflict") throw Conflict(e.what());
    throw Error("sandbox `" + id + "`: " + e.what());
  } catch (const sentry::SentryUnreachable&) {
    throw Conflict("sandbox `" + id + "` is not running (its sentry is gone)");
  }
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return errno == ESRCH;
  UniqueFd pidfd(static_cast<int>(fd));
  pollfd p{pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

std::optional<pid_t> read_pid(const std::string& path) {
  auto text = read_file_if_exists(path);
  if (!text) return std::nullopt;
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (...) {
    return std::nullopt;
  }
}

json spec_json(const SandboxSpec& s) {
  return {{"image", s.image},
          {"env", s.env},
          {"cwd", s.cwd},
          {"limits", {{"memory_bytes", s.limits.memory_bytes}, {"pids", s.limits.pids}, {"cpus", s.limits.cpus}}},
          {"network", s.network},
          {"metadata", s.metadata}};
}

json exec_request(const CommandSpec& cmd, bool close_stdin) {
  if (cmd.argv.empty()) throw BadRequest("argv must not be empty");
  return {{"op", "exec"},
          {"argv", cmd.argv},
          {"env", cmd.env},
          {"cwd", cmd.cwd},
          {"user", cmd.user},
          {"stdin", sentry::base64_encode(cmd.stdin_data)},
          {"close_stdin", close_stdin},
          {"timeout_s", cmd.timeout_s}};
}

struct Background {
  std::string sandbox;
  std::unique_ptr<sentry::SentryConnection> conn;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<bool> abandoned{false};  // the engine is going away: report nothing more
};

class SentryEngine : public SandboxEngine {
 public:
  SentryEngine(std::string state_dir, SentryEngineOptions opts)
      : sandboxes_(state_dir + "/sandboxes"), images_(state_dir + "/images"), run_(state_dir + "/run") {
    ::signal(SIGPIPE, SIG_IGN);
    opts_.sentry_binary =
        opts.sentry_binary.empty() ? sentry::sibling_binary("cryo-sentry", "CRYO_SENTRY") : opts.sentry_binary;
    opts_.init_binary =
        opts.init_binary.empty() ? sentry::sibling_binary("cryo-sandbox-init", "CRYO_SANDBOX_INIT") : opts.init_binary;
    make_dirs(state_dir, 0700);
    make_dirs(sandboxes_, 0700);
    make_dirs(run_, 0700);
  }

  // Sandboxes keep running: a new engine adopts them. Only the output readers stop here.
  ~SentryEngine() override {
    std::vector<std::shared_ptr<Background>> all;
    {
      std::lock_guard lock(mu_);
      all.swap(bg_);
    }
    for (auto& b : all) {
      b->abandoned = true;
      b->conn->shutdown();
    }
    for (auto& b : all)
      if (b->thread.joinable()) b->thread.join();
  }

  // ---- lifecycle ----

  void create(const std::string& id, const SandboxSpec& spec) override {
    validate_id(id);
    SandboxPaths p{sandboxes_ + "/" + id};
    if (::mkdir(p.dir.c_str(), 0700) != 0) {
      if (errno == EEXIST) throw Conflict("sandbox `" + id + "` already exists");
      throw_errno("create `" + p.dir + "`");
    }
    try {
      if (spec.snapshot_dir.empty())
        create_fresh(id, spec, p);
      else
        create_restored(id, spec, p);
    } catch (...) {
      discard(id, p);
      throw;
    }
  }

  void kill(const std::string& id) override {
    SandboxPaths p = existing(id);
    auto sentry_pid = read_pid(p.pid_file());
    std::string failure;
    try {
      sentry::sentry_call(p.socket(), {{"op", "kill"}}, kKillTimeout);
    } catch (const sentry::SentryUnreachable&) {
      // No sentry (crashed, or the sandbox died): clean up what it would have.
      try {
        sentry::tear_down(sentry::load_sentry_config(p), p);
      } catch (const std::exception& e) {
        failure = e.what();
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (sentry_pid && !wait_for_exit(*sentry_pid, 10s)) ::kill(*sentry_pid, SIGKILL);
    join_background(id);
    if (!failure.empty()) throw Error("kill sandbox `" + id + "`: " + failure);
    discard(id, p);
  }

  bool alive(const std::string& id) override {
    try {
      validate_id(id);
    } catch (const BadRequest&) {
      return false;
    }
    return ping(SandboxPaths{sandboxes_ + "/" + id});
  }

  std::vector<std::string> running() override {
    std::vector<std::string> out;
    DIR* d = ::opendir(sandboxes_.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (ping(SandboxPaths{sandboxes_ + "/" + name})) out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  // ---- commands ----

  CommandResult run(const std::string& id, const CommandSpec& cmd, const OutputSink& sink) override {
    SandboxPaths p = existing(id);
    check_cwd(id, cmd.cwd);
    CommandResult r;
    try {
      sentry::SentryConnection c(p.socket());
      c.send(exec_request(cmd, true));
      // The sentry enforces the timeout; this one only guards against a wedged sentry.
      auto guard = cmd.timeout_s > 0 ? std::chrono::milliseconds(static_cast<int64_t>(cmd.timeout_s * 1000) + 30'000)
                                     : std::chrono::milliseconds(-1);
      for (;;) {
        auto msg = c.next(guard);
        if (!msg) throw Error("sandbox `" + id + "`: the sentry went away while the command ran");
        if (msg->contains("stream")) {
          std::string data = sentry::base64_decode((*msg)["data"].get<std::string>());
          bool err = (*msg)["stream"] == "stderr";
          (err ? r.stderr_data : r.stdout_data).append(data);
          auto& cb = err ? sink.on_stderr : sink.on_stdout;
          if (cb) cb(data);
        } else if (msg->contains("exit_code")) {
          r.exit_code = (*msg)["exit_code"].get<int>();
          r.timed_out = msg->value("timed_out", false);
          return r;
        }
      }
    } catch (const sentry::SentryError&) {
      rethrow_sentry(id);
    } catch (const sentry::SentryUnreachable&) {
      rethrow_sentry(id);
    }
  }

  std::string start_command(const std::string& id, const CommandSpec& cmd, OutputSink sink) override {
    SandboxPaths p = existing(id);
    check_cwd(id, cmd.cwd);
    auto bg = std::make_shared<Background>();
    bg->sandbox = id;
    std::string cmd_id;
    try {
      bg->conn = std::make_unique<sentry::SentryConnection>(p.socket());
      bg->conn->send(exec_request(cmd, false));
      auto started = bg->conn->next(30s);
      if (!started || !started->contains("started")) throw Error("sandbox `" + id + "`: the sentry did not start the command");
      cmd_id = (*started)["started"].get<std::string>();
    } catch (const sentry::SentryError&) {
      rethrow_sentry(id);
    } catch (const sentry::SentryUnreachable&) {
      rethrow_sentry(id);
    }
    bg->thread = std::thread([bg, sink = std::move(sink)] { pump(*bg, sink); });
    std::lock_guard lock(mu_);
    std::erase_if(bg_, [](auto& b) {
      if (!b->done) return false;
      if (b->thread.joinable()) b->thread.join();
      return true;
    });
    bg_.push_back(bg);
    return cmd_id;
  }

  void write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close) override {
    call(id, {{"op", "stdin"}, {"cmd", cmd_id}, {"data", sentry::base64_encode(data)}, {"close", close}});
  }

  void kill_command(const std::string& id, const std::string& cmd_id, int sig) override {
    call(id, {{"op", "signal"}, {"cmd", cmd_id}, {"signal", sig}});
  }

  std::vector<std::string> list_commands(const std::string& id) override {
    return call(id, {{"op", "list"}})["commands"].get<std::vector<std::string>>();
  }

  // ---- files ----

  std::string read_file(const std::string& id, const std::string& path) override {
    return sandbox_files::read(open_root(id).get(), path);
  }
  void write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) override {
    sandbox_files::write(open_root(id).get(), path, data, mode);
  }
  std::vector<FileEntry> list_dir(const std::string& id, const std::string& path) override {
    return sandbox_files::list(open_root(id).get(), path);
  }
  FileEntry stat(const std::string& id, const std::string& path) override {
    return sandbox_files::stat(open_root(id).get(), path);
  }
  void remove(const std::string& id, const std::string& path, bool recursive) override {
    sandbox_files::remove(open_root(id).get(), path, recursive);
  }
  void make_dir(const std::string& id, const std::string& path) override {
    sandbox_files::make_dir(open_root(id).get(), path);
  }

  // ---- snapshots ----

  void snapshot(const std::string& id, const std::string& snapshot_dir) override {
    SandboxPaths p = existing(id);
    if (!ping(p)) throw Conflict("sandbox `" + id + "` is not running");
    SentryConfig cfg = sentry::load_sentry_config(p);
    runtime::CheckpointOptions o;
    o.id = id;
    o.image_path = snapshot_dir + "/criu";
    o.leave_running = true;
    make_dirs(o.image_path, 0700);
    runtime::container_checkpoint(sentry::runtime_options(cfg), o);
    // What a restore needs besides the image: the container's config and the sandbox's spec.
    json rec = {{"format", 1},
                {"sandbox_id", id},
                {"spec", cfg.spec},
                {"cwd", cfg.cwd},
                {"config", json::parse(cryo::read_file(p.bundle() + "/config.json"))}};
    write_file_atomic(snapshot_dir + "/sandbox.json", rec.dump(2) + "\n", 0600);
  }

 private:
  void create_fresh(const std::string& id, const SandboxSpec& spec, const SandboxPaths& p) {
    validate_spec(spec);
    if (spec.image != "default" && !spec.image.empty())
      throw BadRequest("image `" + spec.image + "` is not known (only `default` is available)");
    std::string image = ensure_default_image(images_, opts_.init_binary);
    for (auto& d : {p.upper(), p.work(), p.rootfs()}) make_dirs(d, 0755);
    json config = make_sandbox_config(id, spec);
    write_file_atomic(p.bundle() + "/config.json", config.dump(2) + "\n", 0600);
    fsimage::OverlayConfig overlay;
    overlay.lowers = {image};
    overlay.upper = p.upper();
    overlay.work = p.work();
    // The mount belongs to the sandbox, not to this engine: the sentry (or kill) unmounts it.
    fsimage::OverlayMount(overlay, p.rootfs()).release();
    SentryConfig cfg;
    cfg.id = id;
    cfg.runtime_root = run_;
    cfg.cwd = spec.cwd.empty() ? "/" : spec.cwd;
    cfg.spec = spec_json(spec);
    write_file_atomic(p.config(), sentry::to_json(cfg).dump(2) + "\n", 0600);
    sentry::spawn_sentry(opts_.sentry_binary, p.dir, kCreateTimeout);
  }

  void create_restored(const std::string& id, const SandboxSpec& spec, const SandboxPaths& p) {
    auto text = read_file_if_exists(spec.snapshot_dir + "/sandbox.json");
    if (!text) throw NotFound("snapshot `" + spec.snapshot_dir + "` has no sandbox.json");
    json rec = json::parse(*text);
    std::string image = spec.snapshot_dir + "/criu";
    if (!path_exists(image + "/cryo-checkpoint.json"))
      throw Error("snapshot `" + spec.snapshot_dir + "`: the checkpoint image is incomplete");
    // An empty rootfs: cryo's restore mounts the image's layers, the snapshot's diff and a fresh
    // upper on it.
    make_dirs(p.rootfs(), 0755);
    write_file_atomic(p.bundle() + "/config.json", rec.at("config").dump(2) + "\n", 0600);
    SentryConfig cfg;
    cfg.id = id;
    cfg.runtime_root = run_;
    cfg.mode = "restore";
    cfg.restore_image = image;
    cfg.cwd = rec.value("cwd", "/");
    cfg.spec = rec.value("spec", json::object());
    cfg.spec["restored_from"] = spec.snapshot_dir;
    write_file_atomic(p.config(), sentry::to_json(cfg).dump(2) + "\n", 0600);
    sentry::spawn_sentry(opts_.sentry_binary, p.dir, kRestoreTimeout);
  }

  // Removes what is left of a sandbox directory (its rootfs unmounted first).
  void discard(const std::string& id, const SandboxPaths& p) {
    try {
      sentry::unmount_all(p.rootfs());
    } catch (const std::exception& e) {
      throw Error("clean up sandbox `" + id + "`: " + e.what());
    }
    remove_tree(p.dir);
  }

  static void pump(Background& bg, const OutputSink& sink) {
    int code = kKilledExitCode;
    try {
      while (auto msg = bg.conn->next()) {
        if (bg.abandoned) break;
        if (msg->contains("stream")) {
          std::string data = sentry::base64_decode((*msg)["data"].get<std::string>());
          auto& cb = (*msg)["stream"] == "stderr" ? sink.on_stderr : sink.on_stdout;
          if (cb) cb(data);
        } else if (msg->contains("exit_code")) {
          code = (*msg)["exit_code"].get<int>();
          break;
        }
      }
    } catch (const std::exception&) {
      // A broken stream ends the command like a killed sentry does.
    }
    if (!bg.abandoned && sink.on_exit) sink.on_exit(code);
    bg.done = true;
  }

  void join_background(const std::string& id) {
    std::vector<std::shared_ptr<Background>> mine;
    {
      std::lock_guard lock(mu_);
      std::erase_if(bg_, [&](auto& b) {
        if (b->sandbox != id) return false;
        mine.push_back(b);
        return true;
      });
    }
    for (auto& b : mine)
      if (b->thread.joinable()) b->thread.join();  // the sentry is gone: their streams ended
  }

  SandboxPaths existing(const std::string& id) const {
    validate_id(id);
    SandboxPaths p{sandboxes_ + "/" + id};
    if (!path_exists(p.config())) throw NotFound("sandbox `" + id + "` not found");
    return p;
  }

  bool ping(const SandboxPaths& p) const {
    if (!path_exists(p.socket())) return false;
    try {
      return sentry::sentry_call(p.socket(), {{"op", "ping"}}, kPingTimeout).value("ok", false);
    } catch (const std::exception&) {
      return false;
    }
  }

  json call(const std::string& id, const json& req) {
    SandboxPaths p = existing(id);
    try {
      return sentry::sentry_call(p.socket(), req);
    } catch (const sentry::SentryError&) {
      rethrow_sentry(id);
    } catch (const sentry::SentryUnreachable&) {
      rethrow_sentry(id);
    }
  }

  // A dir fd on the sandbox's root as its init sees it (all its mounts included).
  UniqueFd open_root(const std::string& id) {
    SandboxPaths p = existing(id);
    auto g = sentry::runtime_options(sentry::load_sentry_config(p));
    auto init_pid = [&]() -> pid_t {
      try {
        auto info = runtime::container_state(g, id);
        if (info.state.status == oci::Status::Stopped || info.state.pid <= 0)
          throw Conflict("sandbox `" + id + "` is not running");
        return info.state.pid;
      } catch (const runtime::NotFound&) {
        throw Conflict("sandbox `" + id + "` is not running");
      }
    };
    pid_t pid = init_pid();
    UniqueFd root(::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw Conflict("sandbox `" + id + "` is not running (" + errno_name(errno) + ")");
    // The pid could have died and been reused between the two steps: check it is still the init.
    if (init_pid() != pid) throw Conflict("sandbox `" + id + "` is not running");
    return root;
  }

  void check_cwd(const std::string& id, const std::string& cwd) {
    if (cwd.empty()) return;
    if (cwd[0] != '/') throw BadRequest("field `cwd`: `" + cwd + "` must be absolute");
    try {
      sentry::open_in_root(open_root(id).get(), cwd, O_PATH | O_DIRECTORY);
    } catch (const SysError& e) {
      if (e.code() == ENOENT) throw BadRequest("field `cwd`: `" + cwd + "` does not exist in the sandbox");
      if (e.code() == ENOTDIR) throw BadRequest("field `cwd`: `" + cwd + "` is not a directory in the sandbox");
      throw BadRequest(std::string("field `cwd`: ") + e.what());
    }
  }

  std::string sandboxes_, images_, run_;
  SentryEngineOptions opts_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Background>> bg_;
};

}  // namespace

std::unique_ptr<SandboxEngine> make_sentry_engine(const std::string& state_dir, SentryEngineOptions options) {
  return std::make_unique<SentryEngine>(state_dir, std::move(options));
}

}  // namespace cryo::service
