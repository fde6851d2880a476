#include "service/catalogue.h"

#include <nlohmann/json.hpp>

namespace cryo::service {
namespace {

constexpr const char* kSandboxColumns =
    "id, state, image, created_ns, expires_ns, ended_ns, snapshot_id, cpus, memory_bytes, pids, network, metadata,"
    " disk_bytes";

SandboxRecord read_sandbox(const Statement& st) {
  SandboxRecord r;
  r.id = st.text(0);
  r.state = st.text(1);
  r.image = st.text(2);
  r.created_ns = st.integer(3);
  r.expires_ns = st.integer(4);
  r.ended_ns = st.integer(5);
  r.snapshot_id = st.text(6);
  r.cpus = st.real(7);
  r.memory_bytes = st.integer(8);
  r.pids = st.integer(9);
  r.network = st.integer(10) != 0;
  // metadata is written by us as a JSON object of strings; a damaged value is dropped, not fatal
  auto meta = nlohmann::json::parse(st.text(11), nullptr, false);
  if (meta.is_object())
    for (auto& [k, v] : meta.items())
      if (v.is_string()) r.metadata[k] = v.get<std::string>();
  r.disk_bytes = st.integer(12);
  return r;
}

constexpr const char* kSnapshotColumns = "id, sandbox_id, created_ns, size_bytes, seq, image";

SnapshotRecord read_snapshot(const Statement& st) {
  SnapshotRecord r{st.text(0), st.text(1), st.integer(2), st.integer(3), st.integer(4)};
  r.image = st.text(5);
  if (r.image.empty()) r.image = "default";
  return r;
}

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

ImageRecord read_image(const Statement& st) {
  ImageRecord r;
  r.info.name = st.text(0);
  r.info.digest = st.text(1);
  auto layers = nlohmann::json::parse(st.text(2), nullptr, false);
  if (layers.is_array())
    for (auto& l : layers)
      if (l.is_string()) r.info.layers.push_back(l.get<std::string>());
  auto cfg = nlohmann::json::parse(st.text(3), nullptr, false);
  if (cfg.is_object()) {
    r.info.env = strings(cfg, "env");
    r.info.entrypoint = strings(cfg, "entrypoint");
    r.info.cmd = strings(cfg, "cmd");
    r.info.working_dir = cfg.value("working_dir", "");
    r.info.user = cfg.value("user", "");
  }
  r.info.size_bytes = st.integer(4);
  r.created_ns = st.integer(5);
  return r;
}

}  // namespace

Catalogue::Catalogue(const std::string& db_path) : db_(db_path) {
  db_.exec("PRAGMA journal_mode=WAL");
  // WAL + NORMAL is durable across process crashes; a power loss can only lose the last commits.
  db_.exec("PRAGMA synchronous=NORMAL");
  migrate();
}

bool Catalogue::has_column(const std::string& table, const std::string& column) {
  auto st = db_.prepare("PRAGMA table_info(" + table + ")");
  while (st.step())
    if (st.text(1) == column) return true;
  return false;
}

void Catalogue::migrate() {
  db_.exec(
      "CREATE TABLE IF NOT EXISTS sandboxes ("
      " id TEXT PRIMARY KEY, state TEXT NOT NULL, image TEXT NOT NULL, created_ns INTEGER NOT NULL,"
      " expires_ns INTEGER NOT NULL DEFAULT 0, ended_ns INTEGER NOT NULL DEFAULT 0,"
      " snapshot_id TEXT NOT NULL DEFAULT '', cpus REAL NOT NULL DEFAULT 0,"
      " memory_bytes INTEGER NOT NULL DEFAULT 0, pids INTEGER NOT NULL DEFAULT 0,"
      " network INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}')");
  db_.exec(
      "CREATE TABLE IF NOT EXISTS snapshots ("
      " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, sandbox_id TEXT NOT NULL,"
      " created_ns INTEGER NOT NULL, size_bytes INTEGER NOT NULL)");
  db_.exec("CREATE INDEX IF NOT EXISTS sandboxes_state ON sandboxes(state)");
  // Added with images: the image a snapshot's sandbox ran. Older rows ran the default image.
  if (!has_column("snapshots", "image")) db_.exec("ALTER TABLE snapshots ADD COLUMN image TEXT NOT NULL DEFAULT 'default'");
  // Added with disk limits: the size of the sandbox's writable layer. Older rows had none (0).
  if (!has_column("sandboxes", "disk_bytes"))
    db_.exec("ALTER TABLE sandboxes ADD COLUMN disk_bytes INTEGER NOT NULL DEFAULT 0");
  db_.exec(
      "CREATE TABLE IF NOT EXISTS images ("
      " name TEXT PRIMARY KEY, digest TEXT NOT NULL, layers TEXT NOT NULL, config TEXT NOT NULL,"
      " size_bytes INTEGER NOT NULL, created_ns INTEGER NOT NULL)");
}

void Catalogue::add_sandbox(const SandboxRecord& r) {
  std::lock_guard lock(mu_);
  nlohmann::json meta(r.metadata);
  db_.prepare(std::string("INSERT INTO sandboxes (") + kSandboxColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
      .bind(1, r.id)
      .bind(2, r.state)
      .bind(3, r.image)
      .bind(4, r.created_ns)
      .bind(5, r.expires_ns)
      .bind(6, r.ended_ns)
      .bind(7, r.snapshot_id)
      .bind(8, r.cpus)
      .bind(9, r.memory_bytes)
      .bind(10, r.pids)
      .bind(11, static_cast<int64_t>(r.network))
      .bind(12, meta.dump())
      .bind(13, r.disk_bytes)
      .run();
}

std::optional<SandboxRecord> Catalogue::get_sandbox(const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSandboxColumns + " FROM sandboxes WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_sandbox(st);
}

std::vector<SandboxRecord> Catalogue::list_sandboxes(bool running_only) {
  std::lock_guard lock(mu_);
  std::string sql = std::string("SELECT ") + kSandboxColumns + " FROM sandboxes";
  if (running_only) sql += " WHERE state = 'running'";
  sql += " ORDER BY created_ns DESC, id";
  auto st = db_.prepare(sql);
  std::vector<SandboxRecord> out;
  while (st.step()) out.push_back(read_sandbox(st));
  return out;
}

bool Catalogue::set_sandbox_state(const std::string& id, const std::string& state, int64_t ended_ns) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE sandboxes SET state = ?, ended_ns = ? WHERE id = ?").bind(1, state).bind(2, ended_ns).bind(3, id).run();
  return db_.changes() > 0;
}

SnapshotRecord Catalogue::add_snapshot(SnapshotRecord r) {
  std::lock_guard lock(mu_);
  db_.prepare("INSERT INTO snapshots (id, sandbox_id, created_ns, size_bytes, image) VALUES (?,?,?,?,?)")
      .bind(1, r.id)
      .bind(2, r.sandbox_id)
      .bind(3, r.created_ns)
      .bind(4, r.size_bytes)
      .bind(5, r.image.empty() ? std::string("default") : r.image)
      .run();
  r.seq = sqlite3_last_insert_rowid(db_.handle());
  return r;
}

std::optional<SnapshotRecord> Catalogue::get_snapshot(const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_snapshot(st);
}

std::vector<SnapshotRecord> Catalogue::list_snapshots(int limit, std::optional<int64_t> before_seq) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(std::string("SELECT ") + kSnapshotColumns +
                        " FROM snapshots WHERE seq < ? ORDER BY seq DESC LIMIT ?");
  st.bind(1, before_seq.value_or(INT64_MAX)).bind(2, static_cast<int64_t>(limit));
  std::vector<SnapshotRecord> out;
  while (st.step()) out.push_back(read_snapshot(st));
  return out;
}

std::vector<std::string> Catalogue::all_snapshot_ids() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT id FROM snapshots");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

bool Catalogue::delete_snapshot(const std::string& id) {
  std::lock_guard lock(mu_);
  db_.prepare("DELETE FROM snapshots WHERE id = ?").bind(1, id).run();
  return db_.changes() > 0;
}

int64_t Catalogue::count_snapshots() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT COUNT(*) FROM snapshots");
  st.step();
  return st.integer(0);
}

void Catalogue::add_image(const ImageRecord& r) {
  std::lock_guard lock(mu_);
  auto check = db_.prepare("SELECT 1 FROM images WHERE name = ?");
  check.bind(1, r.info.name);
  if (check.step()) throw Conflict("image `" + r.info.name + "` already exists");
  nlohmann::json cfg = {{"env", r.info.env},
                        {"entrypoint", r.info.entrypoint},
                        {"cmd", r.info.cmd},
                        {"working_dir", r.info.working_dir},
                        {"user", r.info.user}};
  db_.prepare("INSERT INTO images (name, digest, layers, config, size_bytes, created_ns) VALUES (?,?,?,?,?,?)")
      .bind(1, r.info.name)
      .bind(2, r.info.digest)
      .bind(3, nlohmann::json(r.info.layers).dump())
      .bind(4, cfg.dump())
      .bind(5, r.info.size_bytes)
      .bind(6, r.created_ns)
      .run();
}

std::optional<ImageRecord> Catalogue::get_image(const std::string& name) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, digest, layers, config, size_bytes, created_ns FROM images WHERE name = ?");
  st.bind(1, name);
  if (!st.step()) return std::nullopt;
  return read_image(st);
}

std::vector<ImageRecord> Catalogue::list_images() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT name, digest, layers, config, size_bytes, created_ns FROM images ORDER BY name");
  std::vector<ImageRecord> out;
  while (st.step()) out.push_back(read_image(st));
  return out;
}

bool Catalogue::delete_image(const std::string& name) {
  std::lock_guard lock(mu_);
  db_.prepare("DELETE FROM images WHERE name = ?").bind(1, name).run();
  return db_.changes() > 0;
}

ImageUsers Catalogue::image_users(const std::string& name) {
  std::lock_guard lock(mu_);
  ImageUsers u;
  auto a = db_.prepare("SELECT id FROM sandboxes WHERE state = 'running' AND image = ? ORDER BY id");
  a.bind(1, name);
  while (a.step()) u.sandboxes.push_back(a.text(0));
  auto b = db_.prepare("SELECT id FROM snapshots WHERE image = ? ORDER BY seq");
  b.bind(1, name);
  while (b.step()) u.snapshots.push_back(b.text(0));
  return u;
}

}  // namespace cryo::service
