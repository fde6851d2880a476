// A spinner with elapsed time on stderr while a slow request runs; silent unless stderr is a terminal.
#pragma once

#include <atomic>
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

}  // namespace cryo::service::ctl
