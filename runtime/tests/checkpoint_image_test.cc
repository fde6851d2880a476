#include <gtest/gtest.h>

#include "base/error.h"
#include <sched.h>

#include "runtime/checkpoint_image.h"
#include "runtime/criu_options.h"

using namespace cryo::runtime;

TEST(CheckpointImage, FindsTheOverlayOnAMountpoint) {
  std::string mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "90 23 0:50 / /b/rootfs rw,relatime - overlay overlay "
      "rw,lowerdir=/l/top:/l/a\\,b,upperdir=/s/upper,workdir=/s/work,uuid=on\n";
  auto o = find_overlay(mountinfo, "/b/rootfs");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->lowers, (std::vector<std::string>{"/l/top", "/l/a,b"}));
  EXPECT_EQ(o->upper, "/s/upper");
  EXPECT_EQ(o->work, "/s/work");
  EXPECT_FALSE(find_overlay(mountinfo, "/sys/fs/cgroup"));
  EXPECT_FALSE(find_overlay(mountinfo, "/elsewhere"));
}

TEST(CheckpointImage, TheLastMountOnAMountpointIsTheVisibleOne) {
  std::string mountinfo =
      "90 23 0:50 / /b/rootfs rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
      "91 90 0:51 / /b/rootfs rw - tmpfs tmpfs rw\n";
  EXPECT_FALSE(find_overlay(mountinfo, "/b/rootfs"));
}

TEST(CheckpointImage, MetadataRoundTripsAndRejectsBadVersions) {
  CheckpointMeta m;
  m.container_id = "c1";
  m.config = {{"ociVersion", "1.2.0"}};
  m.overlay = OverlayRoot{{"/l1", "/l2"}, "/u", "/w"};
  m.diff_digest = "sha256:00";
  auto back = meta_from_json(meta_to_json(m), "test");
  EXPECT_EQ(back.container_id, "c1");
  ASSERT_TRUE(back.overlay);
  EXPECT_EQ(back.overlay->lowers, m.overlay->lowers);
  auto j = meta_to_json(m);
  j["version"] = 99;
  EXPECT_THROW(meta_from_json(j, "test"), cryo::Error);
}

// --empty-ns reaches CRIU as namespace flags; anything but the network namespace is refused
// (before any container is frozen) with the value named.
TEST(EmptyNamespaces, OnlyNetworkIsAccepted) {
  EXPECT_EQ(cryo::runtime::parse_empty_ns({}), 0u);
  EXPECT_EQ(cryo::runtime::parse_empty_ns({"network"}), static_cast<uint32_t>(CLONE_NEWNET));
  try {
    cryo::runtime::parse_empty_ns({"ipc"});
    FAIL() << "ipc accepted";
  } catch (const cryo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("`ipc`"), std::string::npos) << e.what();
  }
}
