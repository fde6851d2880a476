#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/file.h"
#include "runtime/checkpoint_image.h"
#include "runtime/criu_options.h"
#include "runtime/seccomp_image.h"

using namespace cryo;
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

TEST(CheckpointImage, NetnsOutsideImagesRoundTrips) {
  CheckpointMeta m;
  m.container_id = "c1";
  m.fresh_netns_lo_up = true;
  m.netns_outside_images = true;
  auto back = meta_from_json(meta_to_json(m), "test");
  ASSERT_TRUE(back.fresh_netns_lo_up);
  EXPECT_TRUE(*back.fresh_netns_lo_up);
  EXPECT_TRUE(back.netns_outside_images);
  auto j = meta_to_json(m);
  j["netns"].erase("outside_images");  // an image of an earlier cryo
  EXPECT_FALSE(meta_from_json(j, "test").netns_outside_images);
}

// A network namespace with only loopback, of a process that stops in it until killed.
struct LoopbackOnlyProcess {
  pid_t pid = -1;
  LoopbackOnlyProcess() {
    int ready[2];
    if (::pipe(ready) != 0) throw_errno("pipe");
    pid = ::fork();
    if (pid == 0) {
      char ok = ::unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
      if (::write(ready[1], &ok, 1) != 1) ::_exit(1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char ok = 'n';
    if (::read(ready[0], &ok, 1) != 1 || ok != 'y') throw Error("the child could not make a network namespace");
    ::close(ready[0]);
  }
  ~LoopbackOnlyProcess() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

cryo::oci::Spec spec_with(std::vector<std::string> namespaces) {
  cryo::oci::Spec spec;
  for (auto& n : namespaces) spec.linux.namespaces.push_back(cryo::oci::Namespace{n, ""});
  spec.process.emplace();
  spec.process->capabilities.emplace();
  spec.process->capabilities->bounding = {"CAP_KILL"};
  return spec;
}

// Only a namespace with nothing but loopback, that the container cannot change (no
// CAP_NET_ADMIN) and that no user namespace owns, is left out of the images.
TEST(SimpleNetns, OnlyLoopbackNoNetAdminNoUserNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshares a network namespace)";
  LoopbackOnlyProcess p;
  auto simple = cryo::runtime::simple_netns(spec_with({"network", "mount"}), p.pid);
  ASSERT_TRUE(simple);
  EXPECT_TRUE(simple->fd);
  EXPECT_FALSE(simple->lo_up);
  EXPECT_FALSE(cryo::runtime::simple_netns(spec_with({"network", "user"}), p.pid));
  EXPECT_FALSE(cryo::runtime::simple_netns(spec_with({"mount"}), p.pid));
  auto admin = spec_with({"network"});
  admin.process->capabilities->bounding.push_back("CAP_NET_ADMIN");
  EXPECT_FALSE(cryo::runtime::simple_netns(admin, p.pid));
  EXPECT_FALSE(cryo::runtime::simple_netns(spec_with({"network"}), ::getpid())) << "the host's has more than lo";
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

// A container sharing the host's mount namespace is refused by checkpoint and restore, with
// the field and the reason; one with its own (created or joined) passes.
TEST(OwnMountNamespace, RequiredForCheckpointAndRestore) {
  EXPECT_NO_THROW(cryo::runtime::require_own_mount_namespace(spec_with({"pid", "mount"}), "cannot checkpoint"));
  try {
    cryo::runtime::require_own_mount_namespace(spec_with({"pid", "network"}), "cannot checkpoint container `c`");
    FAIL() << "a container without a mount namespace accepted";
  } catch (const cryo::Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("cannot checkpoint container `c`: linux.namespaces has no \"mount\"", 0), 0u) << what;
    EXPECT_NE(what.find("shares the host's mount namespace"), std::string::npos) << what;
  }
}

namespace {

std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}

std::string program(std::initializer_list<uint32_t> ks) {
  std::vector<sock_filter> p;
  for (uint32_t k : ks) p.push_back({0x06, 0, 0, k});  // BPF_RET | BPF_K
  return std::string(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(sock_filter));
}

// seccomp_filter { bytes filter = 1; uint64 prev = 2; uint32 flags = 3; }
std::string filter_msg(const std::string& prog, uint64_t prev) {
  return "\x0a" + varint(prog.size()) + prog + "\x10" + varint(prev) + "\x18" + varint(1);
}

}  // namespace

// CRIU's seccomp.img: a filter equal to the notify program becomes the fallback program; other
// filters and the other fields stay as they were.
TEST(SeccompImage, ReplacesOnlyTheMatchingFilter) {
  std::string notify = program({0x7fc00000}), other = program({0x7fff0000, 0x00050001}), fallback = program({0x00050001});
  std::string entry;
  for (auto& f : {filter_msg(notify, 0), filter_msg(other, 1)}) entry += "\x0a" + varint(f.size()) + f;
  std::string image(8, '\x11');
  uint32_t len = static_cast<uint32_t>(entry.size());
  image.append(reinterpret_cast<const char*>(&len), 4);
  image += entry;
  char tmpl[] = "/tmp/cryo-seccomp-img.XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  write_file_atomic(dir + "/seccomp.img", image);
  auto as_program = [](const std::string& bytes) {
    std::vector<sock_filter> p(bytes.size() / sizeof(sock_filter));
    std::memcpy(p.data(), bytes.data(), bytes.size());
    return p;
  };
  EXPECT_EQ(replace_seccomp_filters(dir, as_program(notify), as_program(fallback)), 1u);
  std::string after = read_file(dir + "/seccomp.img");
  EXPECT_EQ(after.substr(0, 8), image.substr(0, 8));
  EXPECT_EQ(after.find(notify), std::string::npos);
  EXPECT_NE(after.find(filter_msg(fallback, 0)), std::string::npos);
  EXPECT_NE(after.find(filter_msg(other, 1)), std::string::npos);
  EXPECT_EQ(replace_seccomp_filters(dir, as_program(notify), as_program(fallback)), 0u);
  remove_tree(dir);
}

TEST(SeccompImage, FallbackProfileReplacesNotifyRules) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.listener_path = "/run/sup.sock";
  s.syscalls.push_back({{"mount"}, "SCMP_ACT_ERRNO", 1u, {}});
  s.syscalls.push_back({{"mkdir", "chdir"}, "SCMP_ACT_NOTIFY", std::nullopt, {}});
  auto f = with_notify_fallback(s, parse_notify_fallback(R"({"mkdir": "errno:13", "chdir": "allow"})"));
  EXPECT_TRUE(f.listener_path.empty());
  ASSERT_EQ(f.syscalls.size(), 3u);
  EXPECT_EQ(f.syscalls[1].names, std::vector<std::string>{"mkdir"});
  EXPECT_EQ(f.syscalls[1].action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(f.syscalls[1].errno_ret, 13u);
  EXPECT_EQ(f.syscalls[2].action, "SCMP_ACT_ALLOW");
  EXPECT_THROW(with_notify_fallback(s, parse_notify_fallback(R"({"mkdir": "allow"})")), cryo::Error);
  EXPECT_THROW(parse_notify_fallback(R"({"mkdir": "deny"})"), cryo::Error);
  EXPECT_THROW(parse_notify_fallback("[1]"), cryo::Error);
}
