// How the init will enter its root, decided from the spec alone (no root needed).
#include "runtime/rootfs/rootfs.h"

#include <gtest/gtest.h>

namespace cryo::runtime {
namespace {

oci::Spec spec_with(const std::vector<std::string>& namespaces) {
  oci::Spec spec;
  for (auto& n : namespaces) spec.linux.namespaces.push_back({n, ""});
  return spec;
}

TEST(RootfsPlan, AMountNamespacePivots) {
  RootfsOptions o = rootfs_options(spec_with({"pid", "mount"}), "/b/rootfs", "/b", false);
  EXPECT_TRUE(o.mount_namespace);
  EXPECT_FALSE(o.user_namespace);
  EXPECT_EQ(root_switch(o), RootSwitch::PivotRoot);
  EXPECT_EQ(root_switch(rootfs_options(spec_with({"mount"}), "/b/rootfs", "/b", true)), RootSwitch::MoveAndChroot);
}

TEST(RootfsPlan, AJoinedMountNamespaceCountsAsOne) {
  oci::Spec spec;
  spec.linux.namespaces.push_back({"mount", "/proc/1/ns/mnt"});
  EXPECT_EQ(root_switch(rootfs_options(spec, "/b/rootfs", "/b", false)), RootSwitch::PivotRoot);
}

// Without a mount namespace, neither pivot_root nor a move (even with --no-pivot) may touch the
// host's mounts: chroot alone.
TEST(RootfsPlan, NoMountNamespaceChroots) {
  RootfsOptions o = rootfs_options(spec_with({"pid", "user"}), "/b/rootfs", "/b", false);
  EXPECT_FALSE(o.mount_namespace);
  EXPECT_TRUE(o.user_namespace);
  EXPECT_EQ(root_switch(o), RootSwitch::Chroot);
  EXPECT_EQ(root_switch(rootfs_options(spec_with({}), "/b/rootfs", "/b", true)), RootSwitch::Chroot);
}

}  // namespace
}  // namespace cryo::runtime
