// The container's root filesystem, built inside its new mount namespace: mounts in order,
// devices, pivot_root, masked and read-only paths.
#pragma once

#include <functional>
#include <string>

#include "oci/spec.h"

namespace cryo::runtime {

struct RootfsOptions {
  std::string rootfs;      // absolute host path
  std::string bundle;      // relative mount sources are taken from here
  bool no_pivot = false;
  bool user_namespace = false;  // devices are bind-mounted from the host instead of mknod
};

// Everything up to (not including) the switch of root: propagation, mounts, devices.
void prepare_rootfs(const oci::Spec& spec, const RootfsOptions& opts);
// pivot_root (or move+chroot with no_pivot) into the prepared root; cwd becomes "/".
void enter_rootfs(const RootfsOptions& opts);
// After the switch: masked paths, read-only paths, read-only root, root propagation.
void finish_rootfs(const oci::Spec& spec);

}  // namespace cryo::runtime
