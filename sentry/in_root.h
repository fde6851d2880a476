// Path resolution confined to a directory tree (a sandbox's root seen from the host).
//
// Every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `..` stops at the
// root and absolute symlinks are taken relative to it, so nothing inside the sandbox can steer
// a host-side file operation outside; /proc magic links (/proc/<pid>/root, fd links) are refused.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "base/fd.h"

namespace cryo::sentry {

// Opens `path` (absolute or relative, taken from the root either way) below root_fd.
// Throws cryo::SysError naming the path; ENOENT/ENOTDIR/ELOOP keep their errno.
UniqueFd open_in_root(int root_fd, const std::string& path, int flags, mode_t mode = 0);

// The parent directory of `path` (opened O_PATH|O_DIRECTORY, resolved in-root) and the last
// component. The last component is never followed, so callers can lstat/unlink/rename it.
// Throws cryo::Error for the root itself and for names ending in "." or "..".
std::pair<UniqueFd, std::string> open_parent_in_root(int root_fd, const std::string& path);

// mkdir -p inside the root; every existing component is resolved in-root.
void make_dirs_in_root(int root_fd, const std::string& path, mode_t mode = 0755);

// "a//b/./c/" -> "/a/b/c" (lexical; ".." is left for the kernel to clamp at the root).
std::string normalize_path(const std::string& path);

}  // namespace cryo::sentry
