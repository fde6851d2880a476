// A size-limited writable layer for an overlay: the upper and work directories on a private tmpfs.
//
// Like gVisor's memory-backed overlay, what a sandbox writes to its root never reaches the host
// disk: the tmpfs's `size=` bounds it (writes past it fail with ENOSPC), and its pages are charged
// to the memory cgroup of the process that writes them, i.e. the sandbox's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "fsimage/fsimage.h"

namespace cryo::fsimage {

struct TmpfsOptions {
  uint64_t size_bytes = 0;  // required: the filesystem's capacity (the kernel rounds up to pages)
  uint64_t nr_inodes = 0;   // 0: one inode per kBytesPerInode of size, at least kMinInodes
  mode_t mode = 0700;       // of the tmpfs's root directory

  static constexpr uint64_t kBytesPerInode = 8 << 10;
  static constexpr uint64_t kMinInodes = 4096;
};

// The mount(2) data string for `options` ("size=…,nr_inodes=…,mode=…"). Throws cryo::Error
// for a zero size.
std::string tmpfs_mount_data(const TmpfsOptions& options);

// A mounted tmpfs (nosuid, nodev).
class TmpfsMount : public OwnedMount {
 public:
  TmpfsMount() = default;
  TmpfsMount(const TmpfsOptions& options, const std::string& target);
};

// <dir> as a tmpfs of `size_bytes` holding <dir>/upper and <dir>/work, ready to be an overlay's
// upperdir and workdir (overlayfs wants both on one filesystem). `dir` is created if missing.
class WritableLayer {
 public:
  WritableLayer() = default;
  WritableLayer(const std::string& dir, uint64_t size_bytes);

  std::string upper() const { return mount_.target() + "/upper"; }
  std::string work() const { return mount_.target() + "/work"; }
  const std::string& dir() const { return mount_.target(); }
  bool mounted() const { return mount_.mounted(); }
  void unmount() { mount_.unmount(); }
  // Leaves the tmpfs mounted for whoever owns it next (the sandbox's teardown); returns dir.
  std::string release() { return mount_.release(); }

 private:
  TmpfsMount mount_;
};

}  // namespace cryo::fsimage
