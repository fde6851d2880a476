#include "service/catalogue.h"

#include <nlohmann/json.hpp>

namespace cryo::service {
namespace {

constexpr const char* kSandboxColumns =
    "id, state, image, created_ns, expires_ns, ended_ns, snapshot_id, cpus, memory_bytes, pids, network, metadata";

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
  return r;
}

SnapshotRecord read_snapshot(const Statement& st) {
  return SnapshotRecord{st.text(0), st.text(1), st.integer(2), st.integer(3), st.integer(4)};
}

}  // namespace

Catalogue::Catalogue(const std::string& db_path) : db_(db_path) {
  db_.exec("PRAGMA journal_mode=WAL");
  // WAL + NORMAL is durable across process crashes; a power loss can only lose the last commits.
  db_.exec("PRAGMA synchronous=NORMAL");
  migrate();
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
}

void Catalogue::add_sandbox(const SandboxRecord& r) {
  std::lock_guard lock(mu_);
  nlohmann::json meta(r.metadata);
  db_.prepare(std::string("INSERT INTO sandboxes (") + kSandboxColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
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
  db_.prepare("INSERT INTO snapshots (id, sandbox_id, created_ns, size_bytes) VALUES (?,?,?,?)")
      .bind(1, r.id)
      .bind(2, r.sandbox_id)
      .bind(3, r.created_ns)
      .bind(4, r.size_bytes)
      .run();
  r.seq = sqlite3_last_insert_rowid(db_.handle());
  return r;
}

std::optional<SnapshotRecord> Catalogue::get_snapshot(const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT id, sandbox_id, created_ns, size_bytes, seq FROM snapshots WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_snapshot(st);
}

std::vector<SnapshotRecord> Catalogue::list_snapshots(int limit, std::optional<int64_t> before_seq) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, sandbox_id, created_ns, size_bytes, seq FROM snapshots WHERE seq < ? ORDER BY seq DESC LIMIT ?");
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

}  // namespace cryo::service
