// Resolving paths inside a container's root filesystem so that symlinks in the image cannot point
// a mount or a file operation outside it (openat2 with RESOLVE_IN_ROOT).
#pragma once

#include <string>

#include "base/fd.h"

namespace cryo::runtime {

enum class Create { None, Dir, File };

// Opens `path` (absolute, as seen from inside the root) beneath the directory `root_fd` as an
// O_PATH fd, creating missing directories (and the leaf, if asked) along the way, all in-root.
UniqueFd open_in_root(int root_fd, const std::string& path, Create create);
// "/proc/self/fd/N": a path the mount syscalls can use to reach an fd opened in-root.
std::string fd_path(int fd);
// Joins and cleans an in-container path ("a/../b" -> "/b"); never climbs above "/".
std::string clean_path(const std::string& path);

}  // namespace cryo::runtime
