// Operation counters exported in the Prometheus text format.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace cryo::service {

class Metrics {
 public:
  void record(const std::string& op, double seconds, bool failed);
  // Gauges are sampled by the caller when rendering.
  std::string render(int64_t sandboxes_running, int64_t snapshots) const;

 private:
  struct Op {
    uint64_t count = 0, failures = 0;
    double seconds = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Op> ops_;
};

// Records one operation when it goes out of scope; failed unless succeed() was called.
class OpTimer {
 public:
  OpTimer(Metrics& m, std::string op) : m_(m), op_(std::move(op)), start_(std::chrono::steady_clock::now()) {}
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;
  ~OpTimer() {
    std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
    m_.record(op_, d.count(), !ok_);
  }
  void succeed() { ok_ = true; }

 private:
  Metrics& m_;
  std::string op_;
  std::chrono::steady_clock::time_point start_;
  bool ok_ = false;
};

}  // namespace cryo::service
