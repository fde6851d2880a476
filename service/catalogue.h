// The durable record of sandboxes and snapshots: SQLite (WAL) in <state>/cryod.db.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "service/engine.h"
#include "service/sqlite.h"

namespace cryo::service {

struct SandboxRecord {
  std::string id;
  std::string state;  // running | killed | timed_out | stopped
  std::string image;
  int64_t created_ns = 0;
  int64_t expires_ns = 0;  // 0: no timeout
  int64_t ended_ns = 0;    // 0: still running
  std::string snapshot_id;  // empty: started fresh
  double cpus = 0;
  int64_t memory_bytes = 0;
  int64_t pids = 0;
  int64_t disk_bytes = 0;  // 0: as the snapshot it was restored from (or recorded before disk limits)
  bool network = false;
  std::map<std::string, std::string> metadata;
};

struct SnapshotRecord {
  std::string id;
  std::string sandbox_id;
  int64_t created_ns = 0;
  int64_t size_bytes = 0;
  int64_t seq = 0;  // insertion order; the pagination cursor
  std::string image = "default";  // the image its sandbox ran (a reference that blocks image rm)
};

struct ImageRecord {
  ImageInfo info;  // info.name is the key
  int64_t created_ns = 0;
};

// What keeps an image from being removed.
struct ImageUsers {
  std::vector<std::string> sandboxes;  // running
  std::vector<std::string> snapshots;
};

class Catalogue {
 public:
  explicit Catalogue(const std::string& db_path);

  void add_sandbox(const SandboxRecord& rec);
  std::optional<SandboxRecord> get_sandbox(const std::string& id);
  std::vector<SandboxRecord> list_sandboxes(bool running_only);
  // Returns false when the id is unknown.
  bool set_sandbox_state(const std::string& id, const std::string& state, int64_t ended_ns);

  // Returns the record with its assigned seq.
  SnapshotRecord add_snapshot(SnapshotRecord rec);
  std::optional<SnapshotRecord> get_snapshot(const std::string& id);
  // Newest first; rows with seq < before_seq when given.
  std::vector<SnapshotRecord> list_snapshots(int limit, std::optional<int64_t> before_seq);
  std::vector<std::string> all_snapshot_ids();
  bool delete_snapshot(const std::string& id);
  int64_t count_snapshots();

  // Throws Conflict when the name is taken.
  void add_image(const ImageRecord& rec);
  std::optional<ImageRecord> get_image(const std::string& name);
  std::vector<ImageRecord> list_images();  // by name
  bool delete_image(const std::string& name);
  ImageUsers image_users(const std::string& name);

 private:
  void migrate();
  bool has_column(const std::string& table, const std::string& column);  // table: a name of ours

  std::mutex mu_;  // one connection shared by all request threads
  Database db_;
};

}  // namespace cryo::service
