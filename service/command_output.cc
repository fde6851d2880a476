#include "service/command_output.h"

namespace cryo::service {

void CommandOutput::append(OutputEvent::Kind kind, std::string_view data) {
  {
    std::lock_guard lock(mu_);
    if (exit_code_ || data.empty()) return;
    if (bytes_ + data.size() > max_bytes_) {
      if (!truncated_) events_.push_back({OutputEvent::kStderr, "\n[cryod: output limit reached, rest dropped]\n"});
      truncated_ = true;
      return;
    }
    bytes_ += data.size();
    // Events are never modified once appended: readers keep an index into the list.
    events_.push_back({kind, std::string(data)});
  }
  cv_.notify_all();
}

void CommandOutput::finish(int exit_code) {
  {
    std::lock_guard lock(mu_);
    if (exit_code_) return;
    exit_code_ = exit_code;
    events_.push_back({OutputEvent::kExit, {}, exit_code});
  }
  cv_.notify_all();
}

std::vector<OutputEvent> CommandOutput::read(size_t from, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return events_.size() > from; });
  if (events_.size() <= from) return {};
  return {events_.begin() + static_cast<std::ptrdiff_t>(from), events_.end()};
}

bool CommandOutput::finished() const {
  std::lock_guard lock(mu_);
  return exit_code_.has_value();
}

std::optional<int> CommandOutput::exit_code() const {
  std::lock_guard lock(mu_);
  return exit_code_;
}

}  // namespace cryo::service
