// What cryod does, independent of HTTP: sandbox lifecycle over the engine, the catalogue,
// background command output, atomic snapshots, timeouts and restart reconciliation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service/catalogue.h"
#include "service/command_output.h"
#include "service/deadlines.h"
#include "service/engine.h"
#include "service/metrics.h"
#include "service/snapshot_archive.h"

namespace cryo::service {

struct CreateSandboxRequest {
  SandboxSpec spec;
  std::string snapshot_id;  // empty: fresh
  double timeout_s = 0;     // 0: lives until killed
};

struct CommandInfo {
  std::string id;
  std::vector<std::string> argv;
  bool running = true;
  std::optional<int> exit_code;
};

struct SnapshotPage {
  std::vector<SnapshotRecord> items;
  std::string next_cursor;  // empty: no more pages
};

class SandboxService {
 public:
  // Opens (or creates) <state_dir>/cryod.db and reconciles it with the engine.
  SandboxService(const std::string& state_dir, std::unique_ptr<SandboxEngine> engine, Metrics& metrics);
  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;
  ~SandboxService();

  SandboxRecord create_sandbox(CreateSandboxRequest req);
  SandboxRecord get_sandbox(const std::string& id);
  std::vector<SandboxRecord> list_sandboxes(bool include_stopped);
  SandboxRecord kill_sandbox(const std::string& id);

  CommandResult run_command(const std::string& id, const CommandSpec& spec);
  std::string start_command(const std::string& id, const CommandSpec& spec);
  std::shared_ptr<CommandOutput> command_output(const std::string& id, const std::string& cmd_id);
  std::vector<CommandInfo> list_commands(const std::string& id);
  // The supervisor's audit log: one JSON object per supervised call it saw, oldest first.
  nlohmann::json audit_log(const std::string& id);
  void write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close);
  void kill_command(const std::string& id, const std::string& cmd_id, int sig);

  // File operations: checked against the catalogue, then passed to the engine.
  std::string read_file(const std::string& id, const std::string& path);
  void write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode);
  std::vector<FileEntry> list_dir(const std::string& id, const std::string& path);
  FileEntry stat(const std::string& id, const std::string& path);
  void remove(const std::string& id, const std::string& path, bool recursive);
  void make_dir(const std::string& id, const std::string& path);

  SnapshotRecord create_snapshot(const std::string& id);
  SnapshotRecord get_snapshot(const std::string& id);
  SnapshotPage list_snapshots(int limit, const std::string& cursor);
  void delete_snapshot(const std::string& id);

  // Images: imported into the engine's layer store, named in the catalogue. delete_image refuses
  // (Conflict) while a running sandbox or a snapshot uses the image.
  ImageRecord import_image(const std::string& path, const std::string& name);
  std::vector<ImageRecord> list_images();
  ImageRecord get_image(const std::string& name);
  void delete_image(const std::string& name);

  // Portable snapshots (see snapshot_archive.h for the archive's shape). The import keeps the
  // snapshot's id; it is a Conflict when that id exists here already.
  void export_snapshot(const std::string& id, const std::string& out_path, const ArchiveProgress& progress = {});
  SnapshotRecord import_snapshot(const std::string& archive_path);
  // A fresh path under <state>/tmp (emptied at startup) for uploads and exports.
  std::string temp_path(const std::string& prefix);

  int64_t running_count();
  int64_t snapshot_count();
  std::string snapshot_dir(const std::string& snapshot_id) const;

 private:
  void reconcile();
  void reconcile_snapshots();
  void reconcile_sandboxes();
  void expire(const std::string& id);
  SandboxRecord end_sandbox(const std::string& id, const std::string& state);
  SandboxRecord require_running(const std::string& id);
  void forget_commands(const std::string& id);
  // Removes the stored layers no image, snapshot or running sandbox uses. Callers hold images_mu_
  // exclusively (or run before any request), so nothing that would use a layer is being made.
  void prune_layers();

  std::string state_dir_;
  std::string snapshots_dir_;
  std::unique_ptr<SandboxEngine> engine_;
  Metrics& metrics_;
  Catalogue catalogue_;
  // Held shared while a sandbox restores from a snapshot, exclusively while one is deleted.
  std::shared_mutex snapshot_use_mu_;
  // Held shared while a sandbox is created from an image or snapshotted, exclusively while images
  // are added or removed and while layers are pruned.
  std::shared_mutex images_mu_;
  std::mutex commands_mu_;
  std::map<std::string, std::map<std::string, std::shared_ptr<CommandOutput>>> commands_;
  Deadlines deadlines_;  // last: its thread calls back into the members above
};

}  // namespace cryo::service
