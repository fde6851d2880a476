#include "service/log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "service/ids.h"

namespace cryo::service {

void log_event(const char* level, const std::string& msg, nlohmann::json fields) {
  fields["time"] = rfc3339(now_ns());
  fields["level"] = level;
  fields["msg"] = msg;
  std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mu;  // whole lines, even from several request threads
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace cryo::service
