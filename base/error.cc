#include "base/error.h"

#include <cstring>

namespace cryo {

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

SysError::SysError(int err, const std::string& doing)
    : Error(doing + ": " + errno_name(err) + " (" + std::strerror(err) + ")"), err_(err) {}

void throw_errno(const std::string& doing) { throw SysError(errno, doing); }

}  // namespace cryo
