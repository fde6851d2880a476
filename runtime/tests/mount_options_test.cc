#include "runtime/rootfs/mount_options.h"

#include <sys/mount.h>

#include <gtest/gtest.h>

namespace cryo::runtime {
namespace {

TEST(MountOptions, FlagsAndDataAreSeparated) {
  MountFlags f = parse_mount_options({"nosuid", "noexec", "nodev", "mode=755", "size=65536k"});
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV));
  EXPECT_EQ(f.data, "mode=755,size=65536k");
  EXPECT_EQ(f.propagation, 0u);
  EXPECT_FALSE(f.bind());
  EXPECT_FALSE(f.readonly());
}

TEST(MountOptions, RbindRoIsRecursiveReadonlyBind) {
  MountFlags f = parse_mount_options({"rbind", "ro"});
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
  EXPECT_TRUE(f.bind());
  EXPECT_TRUE(f.readonly());
  EXPECT_EQ(f.data, "");
}

TEST(MountOptions, BindIsNotRecursive) {
  MountFlags f = parse_mount_options({"bind"});
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_BIND));
  EXPECT_TRUE(f.bind());
}

TEST(MountOptions, LaterOptionsOverrideEarlierOnes) {
  EXPECT_FALSE(parse_mount_options({"ro", "rw"}).readonly());
  EXPECT_TRUE(parse_mount_options({"rw", "ro"}).readonly());
  EXPECT_EQ(parse_mount_options({"nosuid", "suid"}).flags, 0u);
  EXPECT_EQ(parse_mount_options({"noexec", "exec", "nodev", "dev"}).flags, 0u);
  EXPECT_EQ(parse_mount_options({"noatime", "atime"}).flags, 0u);
  EXPECT_EQ(parse_mount_options({"sync", "async"}).flags, 0u);
}

TEST(MountOptions, DefaultsIsANoOp) { EXPECT_EQ(parse_mount_options({"defaults"}).flags, 0u); }

TEST(MountOptions, AtimeVariants) {
  EXPECT_EQ(parse_mount_options({"relatime"}).flags, static_cast<unsigned long>(MS_RELATIME));
  EXPECT_EQ(parse_mount_options({"strictatime"}).flags, static_cast<unsigned long>(MS_STRICTATIME));
  EXPECT_EQ(parse_mount_options({"nodiratime"}).flags, static_cast<unsigned long>(MS_NODIRATIME));
  EXPECT_EQ(parse_mount_options({"remount"}).flags, static_cast<unsigned long>(MS_REMOUNT));
}

TEST(MountOptions, PropagationIsKeptApart) {
  MountFlags f = parse_mount_options({"rbind", "rslave"});
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_BIND | MS_REC));
  EXPECT_EQ(f.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(parse_mount_options({"private"}).propagation, static_cast<unsigned long>(MS_PRIVATE));
  EXPECT_EQ(parse_mount_options({"rshared"}).propagation, static_cast<unsigned long>(MS_SHARED | MS_REC));
}

TEST(MountOptions, PropagationNames) {
  EXPECT_EQ(propagation_flags("private"), static_cast<unsigned long>(MS_PRIVATE));
  EXPECT_EQ(propagation_flags("rprivate"), static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_EQ(propagation_flags("shared"), static_cast<unsigned long>(MS_SHARED));
  EXPECT_EQ(propagation_flags("slave"), static_cast<unsigned long>(MS_SLAVE));
  EXPECT_EQ(propagation_flags("unbindable"), static_cast<unsigned long>(MS_UNBINDABLE));
  EXPECT_EQ(propagation_flags("runbindable"), static_cast<unsigned long>(MS_UNBINDABLE | MS_REC));
  EXPECT_EQ(propagation_flags(""), 0u);
  EXPECT_EQ(propagation_flags("bogus"), 0u);
}

TEST(MountOptions, CompatibilityOptionsAreNotPassedToTheFilesystem) {
  MountFlags f = parse_mount_options({"tmpcopyup", "idmap", "ridmap", "mode=1777"});
  EXPECT_EQ(f.data, "mode=1777");
  EXPECT_EQ(f.flags, 0u);
}

TEST(MountOptions, UnknownOptionsBecomeFilesystemData) {
  MountFlags f = parse_mount_options({"newinstance", "ptmxmode=0666", "gid=5", "ro"});
  EXPECT_EQ(f.data, "newinstance,ptmxmode=0666,gid=5");
  EXPECT_TRUE(f.readonly());
}

TEST(MountOptions, EmptyList) {
  MountFlags f = parse_mount_options({});
  EXPECT_EQ(f.flags, 0u);
  EXPECT_EQ(f.propagation, 0u);
  EXPECT_EQ(f.data, "");
}

}  // namespace
}  // namespace cryo::runtime
