// Size-limited writable layers: an RAII tmpfs and the overlay upper/work pair on it.
#include "fsimage/writable_layer.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "base/error.h"
#include "base/file.h"

namespace cryo::fsimage {

std::string tmpfs_mount_data(const TmpfsOptions& options) {
  if (options.size_bytes == 0) throw Error("tmpfs: a size is required (0 would mean half of the host's memory)");
  // Without nr_inodes the kernel allows half the host's pages in inodes, whose memory `size=`
  // does not count: a flood of empty files would get round the limit.
  uint64_t inodes = options.nr_inodes
                        ? options.nr_inodes
                        : std::max(TmpfsOptions::kMinInodes, options.size_bytes / TmpfsOptions::kBytesPerInode);
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(options.mode & 07777));
  return "size=" + std::to_string(options.size_bytes) + ",nr_inodes=" + std::to_string(inodes) + ",mode=" + mode;
}

TmpfsMount::TmpfsMount(const TmpfsOptions& options, const std::string& target) {
  std::string data = tmpfs_mount_data(options);
  // nosuid/nodev: the host never needs either on a sandbox's private scratch space.
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, data.c_str()) != 0)
    throw SysError(errno, "mount tmpfs on `" + target + "` with `" + data + "`");
  own(target);
}

WritableLayer::WritableLayer(const std::string& dir, uint64_t size_bytes) {
  make_dirs(dir, 0700);
  TmpfsOptions options;
  options.size_bytes = size_bytes;
  mount_ = TmpfsMount(options, dir);
  // 0755: the upper directory's mode becomes that of the container's `/`.
  for (const auto& sub : {upper(), work()})
    if (::mkdir(sub.c_str(), 0755) != 0) throw_errno("mkdir `" + sub + "` in the writable layer");
}

}  // namespace cryo::fsimage
