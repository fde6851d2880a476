// Option structs -> criu_opts, without running criu.
#include <sched.h>

#include <gtest/gtest.h>

#include "checkpoint/criu_rpc.h"

namespace cryo::checkpoint {
namespace {

TEST(CriuRpc, DumpMinimalSendsOnlyWhatIsSet) {
  DumpOptions o;
  o.images_dir_fd = 7;
  o.pid = 1234;
  criu::criu_opts p = to_proto(o, "dump");
  EXPECT_EQ(p.images_dir_fd(), 7);
  EXPECT_FALSE(p.has_images_dir());
  EXPECT_EQ(p.pid(), 1234);
  EXPECT_EQ(p.log_file(), "dump.log");
  EXPECT_EQ(p.log_level(), 4);
  EXPECT_FALSE(p.has_work_dir_fd());
  EXPECT_FALSE(p.has_leave_running());
  EXPECT_FALSE(p.has_manage_cgroups());
  EXPECT_FALSE(p.has_notify_scripts());
  EXPECT_FALSE(p.has_ps());
  EXPECT_TRUE(p.IsInitialized());
}

TEST(CriuRpc, DumpAllOptions) {
  DumpOptions o;
  o.images_dir_fd = 5;
  o.work_dir_fd = 6;
  o.log_file = "d.log";
  o.log_level = 2;
  o.pid = 42;
  o.parent_image = "../pre1";
  o.leave_running = o.track_mem = o.auto_dedup = o.tcp_skip_in_flight = true;
  o.tcp_established = o.ext_unix_sk = o.shell_job = o.file_locks = o.link_remap = true;
  o.lazy_pages = o.notify_scripts = o.orphan_pts_master = true;
  o.manage_cgroups = CgroupMode::Strict;
  o.cgroup_roots = {{"", "/a"}, {"memory", "/b"}};
  o.network_lock = NetworkLock::Skip;
  o.page_server = PageServer{"127.0.0.1", 2222};
  o.status_fd = 9;
  o.freeze_cgroup = "/sys/fs/cgroup/freezer/x";
  o.ext_mounts = {{"/etc/hosts", "/etc/hosts"}};
  o.external = {"mnt[/proc]:proc", "dev[1/3]:null"};
  o.pre_dump_mode = PreDumpMode::VmRead;
  o.ghost_limit = 1000;
  criu::criu_opts p = to_proto(o, "dump");
  EXPECT_EQ(p.work_dir_fd(), 6);
  EXPECT_EQ(p.log_file(), "d.log");
  EXPECT_EQ(p.log_level(), 2);
  EXPECT_EQ(p.parent_img(), "../pre1");
  EXPECT_TRUE(p.leave_running() && p.track_mem() && p.auto_dedup() && p.tcp_skip_in_flight());
  EXPECT_TRUE(p.tcp_established() && p.ext_unix_sk() && p.shell_job() && p.file_locks());
  EXPECT_TRUE(p.link_remap() && p.lazy_pages() && p.notify_scripts() && p.orphan_pts_master());
  EXPECT_TRUE(p.manage_cgroups());
  EXPECT_EQ(p.manage_cgroups_mode(), criu::STRICT);
  ASSERT_EQ(p.cg_root_size(), 2);
  EXPECT_FALSE(p.cg_root(0).has_ctrl());
  EXPECT_EQ(p.cg_root(1).ctrl(), "memory");
  EXPECT_EQ(p.cg_root(1).path(), "/b");
  EXPECT_EQ(p.network_lock(), criu::SKIP);
  EXPECT_EQ(p.ps().address(), "127.0.0.1");
  EXPECT_EQ(p.ps().port(), 2222);
  EXPECT_EQ(p.status_fd(), 9);
  EXPECT_EQ(p.freeze_cgroup(), "/sys/fs/cgroup/freezer/x");
  ASSERT_EQ(p.ext_mnt_size(), 1);
  EXPECT_EQ(p.ext_mnt(0).key(), "/etc/hosts");
  EXPECT_EQ(p.ext_mnt(0).val(), "/etc/hosts");
  ASSERT_EQ(p.external_size(), 2);
  EXPECT_EQ(p.external(1), "dev[1/3]:null");
  EXPECT_EQ(p.pre_dump_mode(), criu::VM_READ);
  EXPECT_EQ(p.ghost_limit(), 1000u);
}

TEST(CriuRpc, CgroupModeIgnoreTurnsManagementOff) {
  DumpOptions o;
  o.images_dir = "/imgs";
  o.pid = 1;
  o.manage_cgroups = CgroupMode::Ignore;
  criu::criu_opts p = to_proto(o, "dump");
  EXPECT_EQ(p.images_dir_fd(), -1);
  EXPECT_EQ(p.images_dir(), "/imgs");
  EXPECT_FALSE(p.manage_cgroups());
  EXPECT_EQ(p.manage_cgroups_mode(), criu::IGNORE);
  o.manage_cgroups = CgroupMode::Soft;
  EXPECT_EQ(to_proto(o, "dump").manage_cgroups_mode(), criu::SOFT);
  o.manage_cgroups = CgroupMode::Full;
  EXPECT_EQ(to_proto(o, "dump").manage_cgroups_mode(), criu::FULL);
}

TEST(CriuRpc, DumpRejectsMissingPidAndImages) {
  DumpOptions o;
  o.images_dir_fd = 3;
  EXPECT_THROW(to_proto(o, "dump"), Error);  // pid 0 would dump ourselves
  o.pid = 10;
  o.images_dir_fd = -1;
  EXPECT_THROW(to_proto(o, "dump"), Error);
  o.images_dir_fd = 3;
  o.log_file = "sub/dump.log";
  EXPECT_THROW(to_proto(o, "dump"), Error);
}

TEST(CriuRpc, RestoreOptions) {
  RestoreOptions o;
  o.images_dir_fd = 4;
  o.root = "/run/cryo/rootfs";
  o.rst_sibling = true;
  o.inherit_fds = {{"pipe:[1234]", 0}, {"extRootNetNS", 11}};
  o.join_ns = {{"net", "/proc/1/ns/net", ""}, {"user", "pid:7", "extra"}};
  o.empty_ns = CLONE_NEWNET;
  o.tcp_close = true;
  o.ext_mounts = {{"/dev/console", "/dev/pts/3"}};
  criu::criu_opts p = to_proto(o, "restore");
  EXPECT_EQ(p.log_file(), "restore.log");
  EXPECT_EQ(p.root(), "/run/cryo/rootfs");
  EXPECT_TRUE(p.rst_sibling());
  ASSERT_EQ(p.inherit_fd_size(), 2);
  EXPECT_EQ(p.inherit_fd(0).key(), "pipe:[1234]");
  EXPECT_EQ(p.inherit_fd(0).fd(), 0);
  EXPECT_EQ(p.inherit_fd(1).fd(), 11);
  ASSERT_EQ(p.join_ns_size(), 2);
  EXPECT_EQ(p.join_ns(0).ns(), "net");
  EXPECT_FALSE(p.join_ns(0).has_extra_opt());
  EXPECT_EQ(p.join_ns(1).ns_file(), "pid:7");
  EXPECT_EQ(p.join_ns(1).extra_opt(), "extra");
  EXPECT_EQ(p.empty_ns(), static_cast<uint32_t>(CLONE_NEWNET));
  EXPECT_TRUE(p.tcp_close());
  EXPECT_FALSE(p.has_pid());
  EXPECT_TRUE(p.IsInitialized());
}

TEST(CriuRpc, RequestRoundTripsThroughTheWire) {
  RestoreOptions o;
  o.images_dir_fd = 4;
  o.external = {"mnt[]:m"};
  criu::criu_req req = make_request(criu::RESTORE);
  *req.mutable_opts() = to_proto(o, "restore");
  criu::criu_req back;
  ASSERT_TRUE(back.ParseFromString(req.SerializeAsString()));
  EXPECT_EQ(back.type(), criu::RESTORE);
  EXPECT_EQ(back.opts().external(0), "mnt[]:m");
}

TEST(CriuRpc, VersionAndFeatures) {
  criu::criu_version v;
  v.set_major_number(4);
  v.set_minor_number(2);
  v.set_sublevel(1);
  CriuVersion cv = from_proto(v);
  EXPECT_EQ(cv.str(), "4.2.1");
  EXPECT_TRUE(cv.at_least(4, 2));
  EXPECT_TRUE(cv.at_least(3, 17, 9));
  EXPECT_FALSE(cv.at_least(4, 3));
  EXPECT_FALSE(cv.at_least(4, 2, 2));
  criu::criu_features f;
  f.set_lazy_pages(true);
  CriuFeatures cf = from_proto(f);
  EXPECT_TRUE(cf.lazy_pages);
  EXPECT_FALSE(cf.mem_track);
  EXPECT_EQ(request_name(criu::SINGLE_PRE_DUMP), "pre-dump");
}

}  // namespace
}  // namespace cryo::checkpoint
