// A recording in-memory SandboxEngine double. Its state lives in a FakeWorld shared with the test,
// so the test can inspect calls, inject failures, drive background commands, and keep "sentries"
// alive across a simulated cryod restart.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "service/engine.h"

namespace cryo::service::testing {

struct FakeFile {
  std::string data;
  uint32_t mode = 0644;
};

struct FakeBox {
  SandboxSpec spec;
  std::map<std::string, FakeFile> files;
  std::set<std::string> dirs = {"/"};
};

struct FakeCommand {
  OutputSink sink;
  std::string stdin_data;
  bool finished = false;
  std::vector<int> signals;
};

struct FakeWorld {
  std::mutex mu;
  std::map<std::string, FakeBox> boxes;  // alive sandboxes
  std::map<std::string, std::shared_ptr<FakeCommand>> commands;  // "<sbx>/<cid>"
  std::vector<std::string> calls;  // "create sbx-…", "kill sbx-…", …
  bool fail_snapshot = false;
  int next_command = 1;

  size_t count_calls(const std::string& prefix);
  // Drives a background command from the test.
  void emit(const std::string& sbx, const std::string& cid, bool to_stderr, const std::string& data);
  void finish(const std::string& sbx, const std::string& cid, int exit_code);
};

class FakeEngine : public SandboxEngine {
 public:
  explicit FakeEngine(std::shared_ptr<FakeWorld> world) : w_(std::move(world)) {}

  void create(const std::string& id, const SandboxSpec& spec) override;
  // Runs "commands" without processes: stdout is the last argv word, stderr echoes stdin,
  // the exit code comes from env EXIT_CODE, env SLEEP_MS delays, a timeout shorter than it times out.
  CommandResult run(const std::string& id, const CommandSpec& spec, const OutputSink& sink) override;
  std::string start_command(const std::string& id, const CommandSpec& spec, OutputSink sink) override;
  void write_stdin(const std::string& id, const std::string& cid, std::string_view data, bool close) override;
  void kill_command(const std::string& id, const std::string& cid, int sig) override;
  std::vector<std::string> list_commands(const std::string& id) override;
  std::string read_file(const std::string& id, const std::string& path) override;
  void write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) override;
  std::vector<FileEntry> list_dir(const std::string& id, const std::string& path) override;
  FileEntry stat(const std::string& id, const std::string& path) override;
  void remove(const std::string& id, const std::string& path, bool recursive) override;
  void make_dir(const std::string& id, const std::string& path) override;
  void snapshot(const std::string& id, const std::string& dir) override;
  void kill(const std::string& id) override;
  bool alive(const std::string& id) override;
  std::vector<std::string> running() override;

 private:
  FakeBox& box(const std::string& id);  // with w_->mu held
  std::shared_ptr<FakeWorld> w_;
};

}  // namespace cryo::service::testing
