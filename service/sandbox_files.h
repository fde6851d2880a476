// File operations on a sandbox's root filesystem, done from the host without the sentry.
// `root_fd` is a directory fd on /proc/<init>/root; every path is resolved in-root (see
// sentry/in_root.h), so symlinks and `..` inside the sandbox cannot reach the host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "service/engine.h"

namespace cryo::service::sandbox_files {

std::string read(int root_fd, const std::string& path);
// Atomic: a temp file next to the target, renamed over it. Creates missing parent dirs.
void write(int root_fd, const std::string& path, std::string_view data, uint32_t mode);
std::vector<FileEntry> list(int root_fd, const std::string& path);
// lstat: a symlink is reported as a symlink.
FileEntry stat(int root_fd, const std::string& path);
// Does not cross into other mounts when recursive.
void remove(int root_fd, const std::string& path, bool recursive);
void make_dir(int root_fd, const std::string& path);

}  // namespace cryo::service::sandbox_files
