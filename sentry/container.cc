#include "sentry/container.h"

#include <sys/mount.h>

#include "base/error.h"
#include "base/file.h"
#include "runtime/state_store.h"

namespace cryo::sentry {

runtime::GlobalOptions runtime_options(const SentryConfig& cfg) {
  runtime::GlobalOptions g;
  g.root = cfg.runtime_root;
  return g;
}

void unmount_all(const std::string& path) {
  for (int i = 0; i < 16; ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) return;  // nothing (more) mounted there
    throw_errno("unmount `" + path + "`");
  }
  throw Error("unmount `" + path + "`: still mounted after 16 unmounts");
}

void tear_down(const SentryConfig& cfg, const SandboxPaths& paths) {
  std::string errors;
  try {
    runtime::container_delete(runtime_options(cfg), cfg.id, true);
  } catch (const runtime::NotFound&) {
    // Never created, or already deleted.
  } catch (const std::exception& e) {
    errors += std::string("delete container: ") + e.what() + "; ";
  }
  // The root first: it holds the writable layer below it.
  for (const auto& mountpoint : {paths.rootfs(), paths.layer()}) {
    try {
      unmount_all(mountpoint);
    } catch (const std::exception& e) {
      errors += std::string(e.what()) + "; ";
    }
  }
  if (!errors.empty()) throw Error("tear down sandbox `" + cfg.id + "`: " + errors);
}

}  // namespace cryo::sentry
