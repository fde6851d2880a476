#include "base/proc.h"

#include "base/file.h"

namespace cryo {
namespace {

// The file, or nullopt when the task is gone (also when it goes between open and read).
std::optional<std::string> read_proc(pid_t pid, const char* file) {
  try {
    return read_file_if_exists("/proc/" + std::to_string(pid) + "/" + file);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

char proc_state(pid_t pid) {
  auto stat = read_proc(pid, "stat");
  if (!stat) return 0;
  // The command name may hold spaces and parentheses: the state follows the last ')'.
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() ? 0 : (*stat)[close + 2];
}

std::optional<std::string> proc_status_field(pid_t pid, std::string_view name) {
  auto status = read_proc(pid, "status");
  if (!status) return std::nullopt;
  // The field starts a line: at the very start, or after a newline.
  std::string key(name);
  key += ':';
  size_t at = status->rfind(key, 0) == 0 ? 0 : std::string::npos;
  if (at == std::string::npos) {
    key.insert(key.begin(), '\n');
    at = status->find(key);
    if (at == std::string::npos) return std::nullopt;
  }
  at += key.size();  // just past the colon
  auto end = status->find('\n', at);
  std::string value = status->substr(at, end == std::string::npos ? std::string::npos : end - at);
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t");
  return first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
}

}  // namespace cryo
