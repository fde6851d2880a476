// What the sentry engine's sources (sentry_engine*.cc) share: the engine class. Its members are
// defined by concern, each group in the file named at its declarations.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "sentry/client.h"
#include "sentry/layout.h"
#include "service/engine.h"
#include "service/sentry_engine.h"

namespace cryo::fsimage {
class LayerStore;
}

namespace cryo::service {

// A background command: its stream from the sentry, read by a thread of its own.
struct Background {
  std::string sandbox;
  std::unique_ptr<sentry::SentryConnection> conn;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<bool> abandoned{false};  // the engine is going away: report nothing more
};

class SentryEngine : public SandboxEngine {
 public:
  // The engine and its sandboxes' lifecycle (sentry_engine.cc).
  SentryEngine(std::string state_dir, SentryEngineOptions opts);
  // Sandboxes keep running: a new engine adopts them. Only the output readers stop here.
  ~SentryEngine() override;
  void create(const std::string& id, const SandboxSpec& spec) override;
  void kill(const std::string& id) override;
  std::string audit_log(const std::string& id) override;
  bool alive(const std::string& id) override;
  std::vector<std::string> running() override;

  // Commands (sentry_engine_commands.cc).
  CommandResult run(const std::string& id, const CommandSpec& cmd, const OutputSink& sink) override;
  std::string start_command(const std::string& id, const CommandSpec& cmd, OutputSink sink) override;
  void write_stdin(const std::string& id, const std::string& cmd_id, std::string_view data, bool close) override;
  void kill_command(const std::string& id, const std::string& cmd_id, int sig) override;
  std::vector<std::string> list_commands(const std::string& id) override;

  // Files (sentry_engine_files.cc).
  std::string read_file(const std::string& id, const std::string& path) override;
  void write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) override;
  std::vector<FileEntry> list_dir(const std::string& id, const std::string& path) override;
  FileEntry stat(const std::string& id, const std::string& path) override;
  void remove(const std::string& id, const std::string& path, bool recursive) override;
  void make_dir(const std::string& id, const std::string& path) override;

  // Snapshots, images and the layer stores (sentry_engine_snapshots.cc).
  void snapshot(const std::string& id, const std::string& snapshot_dir) override;
  ImageInfo import_image(const std::string& path) override;
  void remove_layers(const std::vector<std::string>& digests) override;
  SnapshotDeps snapshot_dependencies(const std::string& snapshot_dir) override;
  std::vector<std::string> adopt_snapshot(const std::string& snapshot_dir, const std::vector<PortableLower>& lowers,
                                          const std::map<std::string, std::string>& layer_tars) override;
  std::vector<std::string> prune_layers(const LayerUsers& users) override;

 private:
  // sentry_engine.cc
  void create_fresh(const std::string& id, const SandboxSpec& spec, const sentry::SandboxPaths& p);
  void create_restored(const std::string& id, const SandboxSpec& spec, const sentry::SandboxPaths& p);
  void reap_dead_sandboxes();
  void discard(const std::string& id, const sentry::SandboxPaths& p);
  sentry::SandboxPaths existing(const std::string& id) const;
  bool ping(const sentry::SandboxPaths& p) const;

  // sentry_engine_commands.cc
  void join_background(const std::string& id);
  nlohmann::json call(const std::string& id, const nlohmann::json& req);
  void check_cwd(const std::string& id, const std::string& cwd);

  // sentry_engine_files.cc
  UniqueFd open_root(const std::string& id);

  // sentry_engine_snapshots.cc
  std::string adopted_lower_dir(const PortableLower& l, const std::map<std::string, std::string>& layer_tars,
                                fsimage::LayerStore& store, fsimage::LayerStore& diffs);
  std::vector<std::string> mounted_lowers() const;
  std::string diff_store_root() const;

  std::string sandboxes_, images_, run_, layers_root_;
  SentryEngineOptions opts_;
  std::mutex layers_mu_;  // image imports, layer removal and snapshot adoption
  std::mutex mu_;
  std::mutex kill_mu_;  // serializes kill()
  std::vector<std::shared_ptr<Background>> bg_;
};

}  // namespace cryo::service
