#include "service/sandbox_service.h"

#include "service/log.h"

#include <csignal>
#include <filesystem>
#include <iostream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "service/ids.h"
#include "service/snapshot_fs.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;

constexpr int kKilledExitCode = 128 + SIGKILL;  // what a shell reports for a SIGKILLed child
constexpr size_t kMaxFinishedCommands = 256;    // per sandbox; older finished outputs are dropped

std::string not_found(const std::string& what, const std::string& id) { return what + " `" + id + "` not found"; }

// The first 12 hex digits of "sha256:<hex>" (or of whatever it is).
std::string fsimage_short(const std::string& digest) {
  auto colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

constexpr const char* kArchiveMeta = "cryo-snapshot.json";
constexpr const char* kArchiveFormat = "cryo-snapshot-archive";

void validate_image_name(const std::string& name) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}");
  if (!std::regex_match(name, re) || name.find("..") != std::string::npos || name.find("//") != std::string::npos ||
      name.back() == '/')
    throw BadRequest("image name `" + name +
                     "`: use 1-128 letters, digits and . _ : @ / - (starting with a letter or digit)");
  if (name == "default") throw BadRequest("image name `default` is reserved for the built-in image");
}

// "…/busybox.tar.gz" -> "busybox"
std::string name_from_path(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string base = fs::path(path).filename().string();
  for (auto* ext : {".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar", ".oci"})
    if (base.size() > std::string(ext).size() && base.ends_with(ext)) {
      base.resize(base.size() - std::string(ext).size());
      break;
    }
  std::string out;
  for (char c : base) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '-';
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(0, 1);
  return out.empty() ? "image" : out.substr(0, 128);
}

nlohmann::json image_to_json(const ImageInfo& i) {
  return {{"name", i.name},         {"digest", i.digest}, {"layers", i.layers},           {"env", i.env},
          {"entrypoint", i.entrypoint}, {"cmd", i.cmd},     {"working_dir", i.working_dir}, {"user", i.user},
          {"size_bytes", i.size_bytes}};
}

ImageInfo image_from_json(const nlohmann::json& j) {
  ImageInfo i;
  i.name = j.at("name").get<std::string>();
  i.digest = j.value("digest", "");
  i.layers = j.value("layers", std::vector<std::string>{});
  i.env = j.value("env", std::vector<std::string>{});
  i.entrypoint = j.value("entrypoint", std::vector<std::string>{});
  i.cmd = j.value("cmd", std::vector<std::string>{});
  i.working_dir = j.value("working_dir", "");
  i.user = j.value("user", "");
  i.size_bytes = j.value("size_bytes", int64_t{0});
  return i;
}

}  // namespace

SandboxService::SandboxService(const std::string& state_dir, std::unique_ptr<SandboxEngine> engine, Metrics& metrics)
    : state_dir_(state_dir),
      snapshots_dir_(state_dir + "/snapshots"),
      engine_(std::move(engine)),
      metrics_(metrics),
      catalogue_((make_dirs(state_dir, 0700), state_dir + "/cryod.db")),
      deadlines_([this](const std::string& id) { expire(id); }) {
  make_dirs(snapshots_dir_, 0700);
  // Uploads and exports in flight when cryod stopped are of no use to anyone now.
  remove_tree(state_dir_ + "/tmp");
  make_dirs(state_dir_ + "/tmp", 0700);
  reconcile();
}

SandboxService::~SandboxService() { deadlines_.stop(); }

// ---- restart reconciliation ----

void SandboxService::reconcile() {
  reconcile_snapshots();
  reconcile_sandboxes();
  prune_layers();  // what a crash between a delete and its prune left
}

void SandboxService::reconcile_snapshots() {
  std::set<std::string> on_disk;
  for (auto& entry : fs::directory_iterator(snapshots_dir_)) {
    std::string name = entry.path().filename();
    // A .tmp dir is a snapshot interrupted by a crash; it was never recorded.
    if (name.ends_with(".tmp") || !entry.is_directory()) {
      log_event("warn", "removing unfinished snapshot", {{"path", entry.path().string()}});
      remove_tree(entry.path());
      continue;
    }
    on_disk.insert(name);
  }
  std::set<std::string> recorded;
  for (auto& id : catalogue_.all_snapshot_ids()) {
    if (!on_disk.count(id)) {
      log_event("warn", "dropping snapshot: its directory is gone", {{"snapshot_id", id}});
      catalogue_.delete_snapshot(id);
    }
    recorded.insert(id);
  }
  // Published but not recorded: a crash between rename and insert; nobody knows its id.
  for (auto& name : on_disk)
    if (!recorded.count(name)) {
      log_event("warn", "removing unrecorded snapshot directory", {{"snapshot_id", name}});
      remove_tree(snapshot_dir(name));
    }
}

void SandboxService::reconcile_sandboxes() {
  auto alive_list = engine_->running();
  std::set<std::string> alive(alive_list.begin(), alive_list.end());
  for (auto& rec : catalogue_.list_sandboxes(true)) {
    if (!alive.count(rec.id)) {
      log_event("warn", "sandbox is gone; marking it stopped", {{"sandbox_id", rec.id}});
      catalogue_.set_sandbox_state(rec.id, "stopped", now_ns());
    } else if (rec.expires_ns) {
      deadlines_.set(rec.id, rec.expires_ns);  // fires at once when it expired while we were down
    }
  }
  for (auto& id : alive) {
    auto rec = catalogue_.get_sandbox(id);
    if (!rec) {
      // Created just before a crash, or by an older catalogue: adopt it rather than leak it.
      log_event("info", "adopting running sandbox", {{"sandbox_id", id}});
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
        log_event("error", "killing leftover sandbox failed", {{"sandbox_id", id}, {"error", e.what()}});
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
  std::shared_lock image_lock(images_mu_);  // the image must not go while the sandbox is made
  if (!req.snapshot_id.empty()) {
    snap_lock.lock();  // the snapshot must not be deleted while the engine restores from it
    auto snap = catalogue_.get_snapshot(req.snapshot_id);
    if (!snap) throw NotFound(not_found("snapshot", req.snapshot_id));
    req.spec.snapshot_dir = snapshot_dir(req.snapshot_id);
    req.spec.image = snap->image;  // the restored sandbox runs on the snapshot's image
  } else if (!req.spec.image.empty() && req.spec.image != "default") {
    auto img = catalogue_.get_image(req.spec.image);
    if (!img) throw NotFound(not_found("image", req.spec.image));
    req.spec.image_info = img->info;
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
  // A restored sandbox without a size of its own keeps its snapshot's (recorded as 0).
  rec.disk_bytes = req.snapshot_id.empty() ? writable_layer_bytes(req.spec.limits) : req.spec.limits.disk_bytes;
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
    log_event("error", "expiring sandbox failed", {{"sandbox_id", id}, {"error", e.what()}});
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
  auto rec = get_sandbox(id);
  // A restored sandbox may have been the last user of its snapshot's diff layer (the snapshot
  // deleted while it ran). Never wait for an image import for this: the next prune catches it.
  if (!rec.snapshot_id.empty())
    if (std::unique_lock lock(images_mu_, std::try_to_lock); lock.owns_lock()) prune_layers();
  return rec;
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

nlohmann::json SandboxService::audit_log(const std::string& id) {
  require_running(id);
  nlohmann::json events = nlohmann::json::array();
  std::string text = engine_->audit_log(id);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line still being written
    auto line = nlohmann::json::parse(text.substr(start, end - start), nullptr, false);
    if (!line.is_discarded()) events.push_back(std::move(line));
    start = end + 1;
  }
  return events;
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
  std::shared_lock image_lock(images_mu_);
  auto sandbox = require_running(id);
  SnapshotRecord rec;
  rec.id = new_id("snap");
  rec.sandbox_id = id;
  rec.image = sandbox.image.empty() || sandbox.image == "unknown" ? "default" : sandbox.image;
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
    // A kill that raced the dump (its processes went away under CRIU) is the caller's conflict,
    // not a server error.
    auto now = catalogue_.get_sandbox(id);
    if (!now || now->state != "running") throw Conflict("sandbox `" + id + "` was killed while it was being snapshotted");
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
  // Images first, as create_sandbox takes them: pruning below needs nothing new being made.
  std::unique_lock image_lock(images_mu_);
  std::unique_lock lock(snapshot_use_mu_);
  if (!catalogue_.delete_snapshot(id)) throw NotFound(not_found("snapshot", id));
  // Row first, then files: a crash in between leaves an unrecorded dir that reconciliation removes.
  remove_tree(snapshot_dir(id));
  prune_layers();
  op.succeed();
}

// ---- images ----

ImageRecord SandboxService::import_image(const std::string& path, const std::string& name_in) {
  OpTimer op(metrics_, "image_import");
  std::string name = name_in.empty() ? name_from_path(path) : name_in;
  validate_image_name(name);
  std::unique_lock lock(images_mu_);
  if (catalogue_.get_image(name)) throw Conflict("image `" + name + "` already exists");
  std::set<std::string> known;  // layers other images hold: not ours to drop on failure
  for (auto& img : catalogue_.list_images()) known.insert(img.info.layers.begin(), img.info.layers.end());
  ImageRecord rec;
  rec.info = engine_->import_image(path);
  rec.info.name = name;
  rec.created_ns = now_ns();
  try {
    catalogue_.add_image(rec);
  } catch (...) {
    std::vector<std::string> drop;
    for (auto& d : rec.info.layers)
      if (!known.count(d)) drop.push_back(d);
    engine_->remove_layers(drop);
    throw;
  }
  op.succeed();
  return rec;
}

std::vector<ImageRecord> SandboxService::list_images() { return catalogue_.list_images(); }

ImageRecord SandboxService::get_image(const std::string& name) {
  auto rec = catalogue_.get_image(name);
  if (!rec) throw NotFound(not_found("image", name));
  return *rec;
}

void SandboxService::delete_image(const std::string& name) {
  OpTimer op(metrics_, "image_delete");
  if (name == "default") throw BadRequest("the built-in image `default` cannot be removed");
  std::unique_lock lock(images_mu_);
  auto rec = get_image(name);
  auto users = catalogue_.image_users(name);
  if (!users.sandboxes.empty() || !users.snapshots.empty()) {
    auto list = [](const std::vector<std::string>& ids) {
      std::string out;
      for (size_t i = 0; i < ids.size() && i < 5; ++i) out += (i ? ", " : "") + ids[i];
      if (ids.size() > 5) out += ", …";
      return out;
    };
    std::string msg = "image `" + name + "` is in use by";
    if (!users.sandboxes.empty())
      msg += " " + std::to_string(users.sandboxes.size()) + " running sandbox(es) (" + list(users.sandboxes) + ")";
    if (!users.snapshots.empty())
      msg += std::string(users.sandboxes.empty() ? "" : " and") + " " + std::to_string(users.snapshots.size()) +
             " snapshot(s) (" + list(users.snapshots) + ")";
    throw Conflict(msg);
  }
  catalogue_.delete_image(name);
  // Row first, then layers: a crash in between leaves unreferenced layers (the next prune takes
  // them), never a dangling row.
  prune_layers();
  op.succeed();
}

// ---- layer store ----

void SandboxService::prune_layers() {
  LayerUsers users;
  for (auto& img : catalogue_.list_images()) users.image_layers.insert(img.info.layers.begin(), img.info.layers.end());
  for (auto& id : catalogue_.all_snapshot_ids()) users.snapshot_dirs.push_back(snapshot_dir(id));
  try {
    auto removed = engine_->prune_layers(users);
    if (!removed.empty()) log_event("info", "removed layers nothing uses", {{"layers", removed}});
  } catch (const std::exception& e) {
    // The delete that asked for it is done; the layers wait for the next prune.
    log_event("warn", "pruning the layer store failed", {{"error", e.what()}});
  }
}

// ---- portable snapshots ----

std::string SandboxService::temp_path(const std::string& prefix) {
  return state_dir_ + "/tmp/" + prefix + "-" + new_id("t").substr(2);
}

void SandboxService::export_snapshot(const std::string& id, const std::string& out_path,
                                     const ArchiveProgress& progress) {
  OpTimer op(metrics_, "snapshot_export");
  std::shared_lock lock(snapshot_use_mu_);  // not deleted while we read it
  auto rec = get_snapshot(id);
  std::string dir = snapshot_dir(id);
  SnapshotDeps deps = engine_->snapshot_dependencies(dir);
  nlohmann::json image = {{"name", "default"}};
  if (rec.image != "default") {
    auto img = catalogue_.get_image(rec.image);
    if (!img) throw Error("snapshot `" + id + "`: its image `" + rec.image + "` is missing from the catalogue");
    image = image_to_json(img->info);
  }
  nlohmann::json lowers = nlohmann::json::array();
  for (auto& l : deps.lowers) {
    nlohmann::json j = {{"kind", l.kind}};
    if (!l.digest.empty()) j["digest"] = l.digest;
    if (!l.version.empty()) j["version"] = l.version;
    lowers.push_back(j);
  }
  nlohmann::json meta = {{"format", kArchiveFormat},
                         {"version", 1},
                         {"snapshot",
                          {{"id", rec.id},
                           {"sandbox_id", rec.sandbox_id},
                           {"created_ns", rec.created_ns},
                           {"size_bytes", rec.size_bytes}}},
                         {"image", image},
                         {"lowers", lowers}};
  std::string meta_file = out_path + ".meta";
  write_file_atomic(meta_file, meta.dump(2) + "\n", 0600);
  try {
    std::vector<ArchiveMember> members = {{kArchiveMeta, meta_file}};
    for (auto& f : list_regular_files(dir)) members.push_back({"snapshot/" + f, dir + "/" + f});
    for (auto& [digest, tar] : deps.layer_tars) members.push_back({"layers/sha256/" + digest.substr(7), tar});
    write_checked_archive(out_path, members, progress);
  } catch (...) {
    ::unlink(meta_file.c_str());
    ::unlink(out_path.c_str());
    throw;
  }
  ::unlink(meta_file.c_str());
  op.succeed();
}

SnapshotRecord SandboxService::import_snapshot(const std::string& archive_path) {
  OpTimer op(metrics_, "snapshot_import");
  // A .tmp name: a crash midway leaves a directory reconciliation removes.
  std::string staging = snapshots_dir_ + "/" + new_id("import") + ".tmp";
  make_dirs(staging, 0700);
  std::string published;
  bool image_added = false;
  std::string image_name = "default";
  std::vector<std::string> added_layers;
  std::unique_lock lock(images_mu_, std::defer_lock);
  try {
    extract_checked_archive(archive_path, staging);
    auto text = read_file_if_exists(staging + "/" + kArchiveMeta);
    if (!text) throw BadRequest(std::string("snapshot archive: no ") + kArchiveMeta + ": not a cryo snapshot archive");
    auto meta = nlohmann::json::parse(*text, nullptr, false);
    if (!meta.is_object() || meta.value("format", "") != kArchiveFormat)
      throw BadRequest(std::string("snapshot archive: ") + kArchiveMeta + " is not a cryo snapshot description");
    if (meta.value("version", 0) != 1)
      throw BadRequest("snapshot archive: unsupported version " + meta.value("version", nlohmann::json()).dump());
    SnapshotRecord rec;
    std::vector<PortableLower> lowers;
    ImageInfo image;
    try {
      auto& s = meta.at("snapshot");
      rec.id = s.at("id").get<std::string>();
      rec.sandbox_id = s.value("sandbox_id", "");
      rec.created_ns = s.value("created_ns", now_ns());
      for (auto& l : meta.at("lowers"))
        lowers.push_back({l.at("kind").get<std::string>(), l.value("digest", ""), l.value("version", "")});
      image = image_from_json(meta.at("image"));
    } catch (const nlohmann::json::exception& e) {
      throw BadRequest(std::string("snapshot archive: ") + kArchiveMeta + ": " + e.what());
    }
    if (!is_valid_id(rec.id, "snap")) throw BadRequest("snapshot archive: bad snapshot id `" + rec.id + "`");
    lock.lock();  // only now: the extraction above may take long
    if (catalogue_.get_snapshot(rec.id) || path_exists(snapshot_dir(rec.id)))
      throw Conflict("snapshot `" + rec.id + "` already exists here");
    std::string snap_dir = staging + "/snapshot";
    if (!path_exists(snap_dir))
      throw BadRequest("snapshot archive: it holds no snapshot directory");
    std::map<std::string, std::string> tars;
    if (path_exists(staging + "/layers/sha256"))
      for (auto& f : list_regular_files(staging + "/layers/sha256"))
        tars["sha256:" + f] = staging + "/layers/sha256/" + f;

    // The image: reuse the same one when it is here already, else register it (renamed when
    // its name is taken by a different image).
    if (image.name != "default") {
      validate_image_name(image.name);
      std::set<std::string> in_lowers;
      for (auto& l : lowers)
        if (l.kind == "layer") in_lowers.insert(l.digest);
      for (auto& d : image.layers)
        if (!in_lowers.count(d)) throw BadRequest("snapshot archive: image layer " + d + " is not among the snapshot's layers");
      image_name = image.name;
      for (int attempt = 0;; ++attempt) {
        auto existing = catalogue_.get_image(image_name);
        if (!existing) {
          image_added = true;
          break;
        }
        if (existing->info.digest == image.digest && existing->info.layers == image.layers) break;
        if (attempt > 0) throw Conflict("image `" + image_name + "` exists here with different content");
        image_name = image.name.substr(0, 110) + "-" + fsimage_short(image.digest);
      }
      image.name = image_name;
    }
    added_layers = engine_->adopt_snapshot(snap_dir, lowers, tars);
    rec.size_bytes = sync_tree(snap_dir);
    rec.image = image_name;
    publish_dir(snap_dir, snapshot_dir(rec.id));
    published = snapshot_dir(rec.id);
    if (image_added) catalogue_.add_image({image, now_ns()});
    rec = catalogue_.add_snapshot(rec);
    remove_tree(staging);
    op.succeed();
    return rec;
  } catch (...) {
    // Nothing half-imported stays: the directory, the image row, the layers only we added.
    try {
      if (!published.empty()) remove_tree(published);
      if (image_added) catalogue_.delete_image(image_name);
      if (!added_layers.empty()) {
        std::set<std::string> used;
        for (auto& img : catalogue_.list_images()) used.insert(img.info.layers.begin(), img.info.layers.end());
        std::vector<std::string> drop;
        for (auto& d : added_layers)
          if (!used.count(d)) drop.push_back(d);
        engine_->remove_layers(drop);
      }
      remove_tree(staging);
    } catch (const std::exception& e) {
      log_event("error", "cleaning up a failed snapshot import failed", {{"error", e.what()}});
    }
    throw;
  }
}

int64_t SandboxService::running_count() { return static_cast<int64_t>(catalogue_.list_sandboxes(true).size()); }

int64_t SandboxService::snapshot_count() { return catalogue_.count_snapshots(); }

}  // namespace cryo::service
