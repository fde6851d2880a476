// A spinner with elapsed time on stderr while a slow request runs; silent unless stderr is a terminal.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace cryo::service::ctl {

class Spinner {
 public:
  explicit Spinner(std::string label);
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  ~Spinner();  // erases the line

 private:
  std::string label_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// A spinner that also shows bytes moved so far (and a percentage when the total is known), for
// uploads and downloads. Silent unless stderr is a terminal.
class ByteProgress {
 public:
  explicit ByteProgress(std::string label, int64_t total = 0);
  ByteProgress(const ByteProgress&) = delete;
  ByteProgress& operator=(const ByteProgress&) = delete;
  ~ByteProgress();  // erases the line

  void set(int64_t bytes) { bytes_ = bytes; }

 private:
  std::string label_;
  int64_t total_;
  std::atomic<int64_t> bytes_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace cryo::service::ctl
