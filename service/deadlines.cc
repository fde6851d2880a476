#include "service/deadlines.h"

#include <chrono>
#include <vector>

#include "service/ids.h"

namespace cryo::service {

Deadlines::Deadlines(std::function<void(const std::string&)> on_expire)
    : on_expire_(std::move(on_expire)), thread_([this] { loop(); }) {}

Deadlines::~Deadlines() { stop(); }

void Deadlines::set(const std::string& id, int64_t unix_ns) {
  {
    std::lock_guard lock(mu_);
    deadlines_[id] = unix_ns;
  }
  cv_.notify_all();
}

void Deadlines::cancel(const std::string& id) {
  std::lock_guard lock(mu_);
  deadlines_.erase(id);
}

void Deadlines::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Deadlines::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t now = now_ns();
    int64_t next = INT64_MAX;
    std::vector<std::string> due;
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = deadlines_.erase(it);
      } else {
        next = std::min(next, it->second);
        ++it;
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& id : due) on_expire_(id);
      lock.lock();
      continue;
    }
    // Re-check at least every second: the wall clock may jump.
    auto wait = std::chrono::nanoseconds(std::min<int64_t>(next - now, 1'000'000'000));
    cv_.wait_for(lock, wait);
  }
}

}  // namespace cryo::service
