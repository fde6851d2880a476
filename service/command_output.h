// The retained output of one background command, so that a reader attaching late still gets
// everything from the start, and several readers can follow the same command.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryo::service {

struct OutputEvent {
  enum Kind { kStdout, kStderr, kExit } kind;
  std::string data;   // stdout/stderr bytes
  int exit_code = 0;  // for kExit
};

class CommandOutput {
 public:
  explicit CommandOutput(std::vector<std::string> argv, size_t max_bytes = 64 << 20)
      : argv_(std::move(argv)), max_bytes_(max_bytes) {}

  void append(OutputEvent::Kind kind, std::string_view data);
  // Records the end; later calls are ignored (the engine and a sandbox kill may both report it).
  void finish(int exit_code);

  // Copies events from index `from` on, waiting up to `wait` for at least one.
  std::vector<OutputEvent> read(size_t from, std::chrono::milliseconds wait);
  bool finished() const;
  std::optional<int> exit_code() const;
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  const std::vector<std::string> argv_;
  const size_t max_bytes_;  // beyond this, output is dropped (and a marker says so)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<OutputEvent> events_;
  size_t bytes_ = 0;
  bool truncated_ = false;
  std::optional<int> exit_code_;
};

}  // namespace cryo::service
