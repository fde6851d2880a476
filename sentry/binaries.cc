#include "sentry/binaries.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/error.h"
#include "base/file.h"

namespace cryo::sentry {

std::string sibling_binary(const std::string& name, const char* env_override) {
  if (const char* p = std::getenv(env_override); p && *p) return p;
  std::string path = executable_dir() + "/" + name;
  if (::access(path.c_str(), X_OK) != 0)
    throw Error("cannot find `" + name + "` at `" + path + "` (set " + env_override + " to its path)");
  return path;
}

}  // namespace cryo::sentry
