// The container's root filesystem, built inside its new mount namespace: mounts in order,
// devices, pivot_root, masked and read-only paths. A container without a mount namespace of its
// own shares the host's mount table: nothing is mounted for it, and chroot confines it to its root.
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
  bool mount_namespace = true;  // false: the host's mount table (linux.namespaces has no "mount")
};

// The options for `spec`'s root at host path `rootfs` (bundle: where relative sources are).
RootfsOptions rootfs_options(const oci::Spec& spec, const std::string& rootfs, const std::string& bundle,
                             bool no_pivot);

// How the init enters its root.
enum class RootSwitch {
  PivotRoot,      // the usual: the old root is detached from the container's mount namespace
  MoveAndChroot,  // --no-pivot: the root is moved over `/` of the container's mount namespace
  Chroot,         // no mount namespace: chroot alone, the host's mounts stay as they are
};
RootSwitch root_switch(const RootfsOptions& opts);

// Everything up to (not including) the switch of root: propagation, mounts, devices. Nothing
// without a mount namespace (validate_spec refused every field that would need one).
void prepare_rootfs(const oci::Spec& spec, const RootfsOptions& opts);
// Enters the prepared root as root_switch says; cwd becomes "/".
void enter_rootfs(const RootfsOptions& opts);
// After the switch: masked paths, read-only paths, read-only root, root propagation.
void finish_rootfs(const oci::Spec& spec);

}  // namespace cryo::runtime
