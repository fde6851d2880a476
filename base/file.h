// Small whole-file helpers with errors that name the path.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "base/fd.h"

namespace cryo {

std::string read_file(const std::string& path);
// nullopt when the file does not exist; other failures throw.
std::optional<std::string> read_file_if_exists(const std::string& path);
std::string read_fd(int fd);
// Writes without O_CREAT|O_TRUNC, as kernel files (cgroup, proc) want.
void write_existing_file(const std::string& path, const std::string& data);
// Creates or replaces path atomically (temp file, fsync, rename).
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644);
// The same without the fsync: readers never see a partial file, but the content survives only
// the writer's death, not the machine's. For notes that matter only while the machine is up.
void write_file_replace(const std::string& path, const std::string& data, mode_t mode = 0644);
void write_all(int fd, const void* data, size_t len, const std::string& what);
// mkdir -p; returns whether the leaf was created.
bool make_dirs(const std::string& path, mode_t mode = 0755);
// rm -rf that does not cross mount points and ignores a missing path.
void remove_tree(const std::string& path);
bool path_exists(const std::string& path);
// realpath(3): the absolute, symlink-free path; throws naming the path.
std::string real_path(const std::string& path);
// The directory of the running executable (/proc/self/exe): where cryo finds its sibling binaries.
std::string executable_dir();
UniqueFd open_or_throw(const std::string& path, int flags, mode_t mode = 0);

}  // namespace cryo
