#include "service/snapshot_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/fd.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;

void fsync_path(const std::string& path, bool dir) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (dir ? O_DIRECTORY : 0)));
  if (!fd) throw_errno("open `" + path + "` to fsync");
  if (::fsync(fd.get()) != 0) throw_errno("fsync `" + path + "`");
}

}  // namespace

int64_t sync_tree(const std::string& root) {
  int64_t total = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) throw cryo::Error("walk snapshot `" + root + "`: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw cryo::Error("walk snapshot `" + root + "`: " + ec.message());
    auto st = it->symlink_status();
    if (fs::is_regular_file(st)) {
      fsync_path(it->path(), false);
      total += static_cast<int64_t>(it->file_size());
    } else if (fs::is_directory(st)) {
      fsync_path(it->path(), true);
    }
  }
  fsync_path(root, true);
  return total;
}

void publish_dir(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("rename `" + from + "` to `" + to + "`");
  fsync_path(fs::path(to).parent_path(), true);
}

}  // namespace cryo::service
