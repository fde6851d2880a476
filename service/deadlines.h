// A timer thread that fires a callback when a sandbox's lifetime runs out.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace cryo::service {

class Deadlines {
 public:
  // on_expire runs on the timer thread, without the lock held.
  explicit Deadlines(std::function<void(const std::string& id)> on_expire);
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;
  ~Deadlines();

  // Wall-clock deadline (unix ns) so that it survives a restart via the catalogue.
  void set(const std::string& id, int64_t unix_ns);
  void cancel(const std::string& id);
  void stop();

 private:
  void loop();

  std::function<void(const std::string&)> on_expire_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int64_t> deadlines_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cryo::service
