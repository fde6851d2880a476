#include "service/sandbox_service.h"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <set>

#include "base/file.h"
#include "service/ids.h"
#include "service/snapshot_fs.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;

constexpr int kKilledExitCode = 128 + SIGKILL;  // what a shell reports for a SIGKILLed child
constexpr size_t kMaxFinishedCommands = 256;    // per sandbox; older finished outputs are dropped

std::string not_found(const std::string& what, const std::string& id) { return what + " `" + id + "` not found"; }

}  // namespace

SandboxService::SandboxService(const std::string& state_dir, std::unique_ptr<SandboxEngine> engine, Metrics& metrics)
    : state_dir_(state_dir),
      snapshots_dir_(state_dir + "/snapshots"),
      engine_(std::move(engine)),
      metrics_(metrics),
      catalogue_((make_dirs(state_dir, 0700), state_dir + "/cryod.db")),
      deadlines_([this](const std::string& id) { expire(id); }) {
  make_dirs(snapshots_dir_, 0700);
  reconcile();
}

SandboxService::~SandboxService() { deadlines_.stop(); }

// ---- restart reconciliation ----

void SandboxService::reconcile() {
  reconcile_snapshots();
  reconcile_sandboxes();
}

void SandboxService::reconcile_snapshots() {
  std::set<std::string> on_disk;
  for (auto& entry : fs::directory_iterator(snapshots_dir_)) {
    std::string name = entry.path().filename();
    // A .tmp dir is a snapshot interrupted by a crash; it was never recorded.
    if (name.ends_with(".tmp") || !entry.is_directory()) {
      std::cerr << "cryod: removing unfinished snapshot " << entry.path() << "\n";
      remove_tree(entry.path());
      continue;
    }
    on_disk.insert(name);
  }
  std::set<std::string> recorded;
  for (auto& id : catalogue_.all_snapshot_ids()) {
    if (!on_disk.count(id)) {
      std::cerr << "cryod: dropping snapshot " << id << ": its directory is gone\n";
      catalogue_.delete_snapshot(id);
    }
    recorded.insert(id);
  }
  // Published but not recorded: a crash between rename and insert; nobody knows its id.
  for (auto& name : on_disk)
    if (!recorded.count(name)) {
      std::cerr << "cryod: removing unrecorded snapshot directory " << name << "\n";
      remove_tree(snapshot_dir(name));
    }
}

void SandboxService::reconcile_sandboxes() {
  auto alive_list = engine_->running();
  std::set<std::string> alive(alive_list.begin(), alive_list.end());
  for (auto& rec : catalogue_.list_sandboxes(true)) {
    if (!alive.count(rec.id)) {
      std::cerr << "cryod: sandbox " << rec.id << " is gone; marking it stopped\n";
      catalogue_.set_sandbox_state(rec.id, "stopped", now_ns());
    } else if (rec.expires_ns) {
      deadlines_.set(rec.id, rec.expires_ns);  // fires at once when it expired while we were down
    }
  }
  for (auto& id : alive) {
    auto rec = catalogue_.get_sandbox(id);
    if (!rec) {
      // Created just before a crash, or by an older catalogue: adopt it rather than leak it.
      std::cerr << "cryod: adopting running sandbox " << id << "\n";
      SandboxRecord adopted;
      adopted.id = id;
      adopted.state = "running";
      adopted.image = "unknown";
      adopted.created_ns = now_ns();
      catalogue_.add_sandbox(adopted);
    } else if (rec->state == "killed" || rec->state == "timed_out") {
      // The kill did not finish before the crash; finish it now.
      try {
        engine_->kill(id);
      } catch (const std::exception& e) {
        std::cerr << "cryod: killing leftover sandbox " << id << ": " << e.what() << "\n";
      }
    } else if (rec->state != "running") {
      catalogue_.set_sandbox_state(id, "running", 0);
    }
  }
}

// ---- sandboxes ----

SandboxRecord SandboxService::create_sandbox(CreateSandboxRequest req) {
  OpTimer op(metrics_, "sandbox_create");
  std::shared_lock snap_lock(snapshot_use_mu_, std::defer_lock);
  if (!req.snapshot_id.empty()) {
    snap_lock.lock();  // the snapshot must not be deleted while the engine restores from it
    if (!catalogue_.get_snapshot(req.snapshot_id)) throw NotFound(not_found("snapshot", req.snapshot_id));
    req.spec.snapshot_dir = snapshot_dir(req.snapshot_id);
  }
  SandboxRecord rec;
  rec.id = new_id("sbx");
  engine_->create(rec.id, req.spec);
  rec.state = "running";
  rec.image = req.spec.image;
  rec.created_ns = now_ns();
  if (req.timeout_s > 0) rec.expires_ns = rec.created_ns + static_cast<int64_t>(req.timeout_s * 1e9);
  rec.snapshot_id = req.snapshot_id;
  rec.cpus = req.spec.limits.cpus;
  rec.memory_bytes = req.spec.limits.memory_bytes;
  rec.pids = req.spec.limits.pids;
  rec.network = req.spec.network;
  rec.metadata = req.spec.metadata;
  try {
    catalogue_.add_sandbox(rec);
  } catch (...) {
    engine_->kill(rec.id);  // unrecorded sandboxes would be unreachable
    throw;
  }
  if (rec.expires_ns) deadlines_.set(rec.id, rec.expires_ns);
  op.succeed();
  return rec;
}

SandboxRecord SandboxService::get_sandbox(const std::string& id) {
  auto rec = catalogue_.get_sandbox(id);
  if (!rec) throw NotFound(not_found("sandbox", id));
  return *rec;
}

std::vector<SandboxRecord> SandboxService::list_sandboxes(bool include_stopped) {
  return catalogue_.list_sandboxes(!include_stopped);
}

SandboxRecord SandboxService::require_running(const std::string& id) {
  auto rec = get_sandbox(id);
  if (rec.state != "running") throw Conflict("sandbox `" + id + "` is not running (state " + rec.state + ")");
  return rec;
}

SandboxRecord SandboxService::kill_sandbox(const std::string& id) {
  OpTimer op(metrics_, "sandbox_kill");
  auto rec = get_sandbox(id);
  if (rec.state != "running") {  // idempotent: killing a stopped sandbox is not an error
    op.succeed();
    return rec;
  }
  rec = end_sandbox(id, "killed");
  op.succeed();
  return rec;
}

void SandboxService::expire(const std::string& id) {
  OpTimer op(metrics_, "sandbox_expire");
  try {
    auto rec = catalogue_.get_sandbox(id);
    if (rec && rec->state == "running") end_sandbox(id, "timed_out");
    op.succeed();
  } catch (const std::exception& e) {
    std::cerr << "cryod: expiring sandbox " << id << ": " << e.what() << "\n";
  }
}

SandboxRecord SandboxService::end_sandbox(const std::string& id, const std::string& state) {
  deadlines_.cancel(id);
  // Record the intent first: if we crash mid-kill, reconciliation finishes the kill.
  catalogue_.set_sandbox_state(id, state, now_ns());
  try {
    engine_->kill(id);
  } catch (const NotFound&) {  // already gone: the goal is reached
  }
  forget_commands(id);
  return get_sandbox(id);
}

// ---- commands ----

CommandResult SandboxService::run_command(const std::string& id, const CommandSpec& spec) {
  OpTimer op(metrics_, "command_run");
  require_running(id);
  auto result = engine_->run(id, spec, OutputSink{});
  op.succeed();
  return result;
}

std::string SandboxService::start_command(const std::string& id, const CommandSpec& spec) {
  OpTimer op(metrics_, "command_start");
  require_running(id);
  auto out = std::make_shared<CommandOutput>(spec.argv);
  OutputSink sink;
  sink.on_stdout = [out](std::string_view d) { out->append(OutputEvent::kStdout, d); };
  sink.on_stderr = [out](std::string_view d) { out->append(OutputEvent::kStderr, d); };
  sink.on_exit = [out](int code) { out->finish(code); };
  std::string cmd_id = engine_->start_command(id, spec, std::move(sink));
  {
    std::lock_guard lock(commands_mu_);
    auto& cmds = commands_[id];
    if (cmds.size() >= kMaxFinishedCommands)
      for (auto it = cmds.begin(); it != cmds.end();) it = it->second->finished() ? cmds.erase(it) : std::next(it);
    cmds[cmd_id] = out;
  }
  op.succeed();
  return cmd_id;
}

std::shared_ptr<CommandOutput> SandboxService::command_output(const std::string& id, const std::string& cmd_id) {
  get_sandbox(id);
  std::lock_guard lock(commands_mu_);
  auto sbx = commands_.find(id);
  if (sbx != commands_.end()) {
    auto it = sbx->second.find(cmd_id);
    if (it != sbx->second.end()) return it->second;
  }
  throw NotFound(not_found("command", cmd_id) + " in sandbox `" + id + "`");
}

std::vector<CommandInfo> SandboxService::list_commands(const std::string& id) {
  require_running(id);
  std::vector<CommandInfo> out;
  std::set<std::string> known;
  {
    std::lock_guard lock(commands_mu_);
    for (auto& [cid, o] : commands_[id]) {
      auto code = o->exit_code();
      out.push_back({cid, o->argv(), !code, code});
      known.insert(cid);
    }
  }
  // Commands started before a cryod restart are still known to the engine, without output.
  for (auto& cid : engine_->list_commands(id))
    if (!known.count(cid)) out.push_back({cid, {}, true, std::nullopt});
  return out;
}

void SandboxService::write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close) {
  OpTimer op(metrics_, "command_stdin");
  require_running(id);
  engine_->write_stdin(id, cmd_id, data, close);
  op.succeed();
}

void SandboxService::kill_command(const std::string& id, const std::string& cmd_id, int sig) {
  OpTimer op(metrics_, "command_kill");
  require_running(id);
  engine_->kill_command(id, cmd_id, sig);
  op.succeed();
}

void SandboxService::forget_commands(const std::string& id) {
  std::map<std::string, std::shared_ptr<CommandOutput>> cmds;
  {
    std::lock_guard lock(commands_mu_);
    auto it = commands_.find(id);
    if (it == commands_.end()) return;
    cmds = std::move(it->second);
    commands_.erase(it);
  }
  // Readers still streaming must see an end even if the engine never reports one.
  for (auto& [cid, o] : cmds) o->finish(kKilledExitCode);
}

// ---- files ----

std::string SandboxService::read_file(const std::string& id, const std::string& path) {
  OpTimer op(metrics_, "file_read");
  require_running(id);
  auto data = engine_->read_file(id, path);
  op.succeed();
  return data;
}

void SandboxService::write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) {
  OpTimer op(metrics_, "file_write");
  require_running(id);
  engine_->write_file(id, path, data, mode);
  op.succeed();
}

std::vector<FileEntry> SandboxService::list_dir(const std::string& id, const std::string& path) {
  OpTimer op(metrics_, "file_list");
  require_running(id);
  auto entries = engine_->list_dir(id, path);
  op.succeed();
  return entries;
}

FileEntry SandboxService::stat(const std::string& id, const std::string& path) {
  OpTimer op(metrics_, "file_stat");
  require_running(id);
  auto entry = engine_->stat(id, path);
  op.succeed();
  return entry;
}

void SandboxService::remove(const std::string& id, const std::string& path, bool recursive) {
  OpTimer op(metrics_, "file_remove");
  require_running(id);
  engine_->remove(id, path, recursive);
  op.succeed();
}

void SandboxService::make_dir(const std::string& id, const std::string& path) {
  OpTimer op(metrics_, "file_mkdir");
  require_running(id);
  engine_->make_dir(id, path);
  op.succeed();
}

// ---- snapshots ----

std::string SandboxService::snapshot_dir(const std::string& snapshot_id) const {
  return snapshots_dir_ + "/" + snapshot_id;
}

SnapshotRecord SandboxService::create_snapshot(const std::string& id) {
  OpTimer op(metrics_, "snapshot_create");
  require_running(id);
  SnapshotRecord rec;
  rec.id = new_id("snap");
  rec.sandbox_id = id;
  const std::string final_dir = snapshot_dir(rec.id);
  const std::string tmp_dir = final_dir + ".tmp";
  make_dirs(tmp_dir, 0700);
  try {
    engine_->snapshot(id, tmp_dir);
    rec.size_bytes = sync_tree(tmp_dir);
    rec.created_ns = now_ns();
    publish_dir(tmp_dir, final_dir);
  } catch (...) {
    remove_tree(tmp_dir);  // a failed attempt leaves nothing behind
    throw;
  }
  try {
    rec = catalogue_.add_snapshot(rec);
  } catch (...) {
    remove_tree(final_dir);
    throw;
  }
  op.succeed();
  return rec;
}

SnapshotRecord SandboxService::get_snapshot(const std::string& id) {
  auto rec = catalogue_.get_snapshot(id);
  if (!rec) throw NotFound(not_found("snapshot", id));
  return *rec;
}

SnapshotPage SandboxService::list_snapshots(int limit, const std::string& cursor) {
  std::optional<int64_t> before;
  if (!cursor.empty()) {
    // The cursor is the seq of the last item of the previous page; opaque to clients.
    size_t used = 0;
    try {
      before = std::stoll(cursor, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != cursor.size() || cursor.size() == 0 || *before <= 0)
      throw BadRequest("field `cursor`: not a cursor returned by this server");
  }
  SnapshotPage page;
  // Fetch one extra row to know whether another page exists.
  page.items = catalogue_.list_snapshots(limit + 1, before);
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.resize(static_cast<size_t>(limit));
    page.next_cursor = std::to_string(page.items.back().seq);
  }
  return page;
}

void SandboxService::delete_snapshot(const std::string& id) {
  OpTimer op(metrics_, "snapshot_delete");
  std::unique_lock lock(snapshot_use_mu_);
  if (!catalogue_.delete_snapshot(id)) throw NotFound(not_found("snapshot", id));
  // Row first, then files: a crash in between leaves an unrecorded dir that reconciliation removes.
  remove_tree(snapshot_dir(id));
  op.succeed();
}

int64_t SandboxService::running_count() { return static_cast<int64_t>(catalogue_.list_sandboxes(true).size()); }

int64_t SandboxService::snapshot_count() { return catalogue_.count_snapshots(); }

}  // namespace cryo::service
