// overlayfs mounts: option string construction and an RAII mount.
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"
#include "fsimage/fsimage.h"

namespace cryo::fsimage {

std::string escape_overlay_path(const std::string& path) {
  // overlayfs splits options on ',' and lowerdir on ':'; a backslash escapes the next byte in
  // both passes, and upperdir/workdir are unescaped the same way.
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '\\' || c == ',' || c == ':') out += '\\';
    out += c;
  }
  return out;
}

static void check_layer_path(const std::string& what, const std::string& path) {
  if (path.empty()) throw Error("overlay: empty " + what + " path");
  if (path.find('\0') != std::string::npos) throw Error("overlay: " + what + " path holds NUL");
}

std::string overlay_mount_data(const OverlayConfig& config, size_t limit) {
  if (config.lowers.empty()) throw Error("overlay: at least one lower directory is needed");
  if (config.upper.empty() != config.work.empty())
    throw Error("overlay: upper and work directories go together");
  std::string data = "lowerdir=";
  for (size_t i = 0; i < config.lowers.size(); ++i) {
    check_layer_path("lower", config.lowers[i]);
    if (i) data += ':';
    data += escape_overlay_path(config.lowers[i]);
  }
  if (!config.upper.empty()) {
    check_layer_path("upper", config.upper);
    check_layer_path("work", config.work);
    data += ",upperdir=" + escape_overlay_path(config.upper);
    data += ",workdir=" + escape_overlay_path(config.work);
  }
  for (const auto& opt : config.extra_options) {
    if (opt.empty() || opt.find(',') != std::string::npos)
      throw Error("overlay: invalid extra option `" + opt + "`");
    data += ',' + opt;
  }
  // mount(2) copies at most one page of options; longer strings are silently cut by the
  // kernel, which would drop layers, so refuse them here.
  if (limit == 0) limit = static_cast<size_t>(::sysconf(_SC_PAGESIZE)) - 1;
  if (data.size() > limit)
    throw Error("overlay: mount options are " + std::to_string(data.size()) +
                " bytes, over the kernel limit of " + std::to_string(limit) + " (" +
                std::to_string(config.lowers.size()) +
                " lower dirs): use fewer layers or shorter paths");
  return data;
}

OverlayMount::OverlayMount(const OverlayConfig& config, const std::string& target, unsigned long flags) {
  std::string data = overlay_mount_data(config);
  if (::mount("overlay", target.c_str(), "overlay", flags, data.c_str()) != 0)
    throw SysError(errno, "mount overlay on `" + target + "` with `" + data +
                              "` (the kernel log says why)");
  own(target);
}

OwnedMount& OwnedMount::operator=(OwnedMount&& other) noexcept {
  if (this != &other) {
    if (mounted()) ::umount2(target_.c_str(), MNT_DETACH);
    target_ = other.release();
  }
  return *this;
}

OwnedMount::~OwnedMount() {
  if (mounted()) ::umount2(target_.c_str(), MNT_DETACH);  // best effort: destructors can't throw
}

void OwnedMount::unmount() {
  if (!mounted()) return;
  if (::umount2(target_.c_str(), MNT_DETACH) != 0) throw_errno("unmount `" + target_ + "`");
  target_.clear();
}

std::string OwnedMount::release() {
  std::string t;
  t.swap(target_);
  return t;
}

}  // namespace cryo::fsimage
