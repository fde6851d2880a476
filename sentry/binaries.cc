#include "sentry/binaries.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/error.h"

namespace cryo::sentry {

std::string sibling_binary(const std::string& name, const char* env_override) {
  if (const char* p = std::getenv(env_override); p && *p) return p;
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink /proc/self/exe");
  std::string exe(buf, static_cast<size_t>(n));
  std::string path = exe.substr(0, exe.find_last_of('/')) + "/" + name;
  if (::access(path.c_str(), X_OK) != 0)
    throw Error("cannot find `" + name + "` at `" + path + "` (set " + env_override + " to its path)");
  return path;
}

}  // namespace cryo::sentry
