// Filesystem steps that make a snapshot directory durable and atomically visible.
#pragma once

#include <cstdint>
#include <string>

namespace cryo::service {

// fsyncs every regular file and directory under root (not following symlinks); returns the
// total size of the regular files.
int64_t sync_tree(const std::string& root);
// rename(from, to) then fsync the parent directory so the rename itself is durable.
void publish_dir(const std::string& from, const std::string& to);

}  // namespace cryo::service
