#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/file.h"
#include "runtime/cgroups/cgroup_v1.h"
#include "runtime/cgroups/cgroup_v2.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/tests/fake_syscalls.h"

namespace cryo::runtime {
namespace {

using testing::FakeSyscalls;

// /proc/self/mountinfo of a Debian 12 development machine (hybrid: v1 controllers + v2 "unified").
const char* kHybridMountinfo =
    "22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "23 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
    "31 22 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A systemd machine on the unified hierarchy only.
const char* kPureV2Mountinfo =
    "24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// Classic v1 with co-mounted controllers and optional fields.
const char* kV1Mountinfo =
    "25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
    "rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n";

// ---- layout detection -------------------------------------------------------------------------

TEST(ParseCgroupMounts, HybridMachine) {
  CgroupMounts m = parse_cgroup_mounts(kHybridMountinfo);
  EXPECT_EQ(m.layout, CgroupLayout::Hybrid);
  EXPECT_EQ(m.unified, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m.v1.size(), 9u);
  EXPECT_EQ(m.v1.at("memory"), "/sys/fs/cgroup/memory");
  EXPECT_EQ(m.v1.at("cpu"), "/sys/fs/cgroup/cpu");
  EXPECT_EQ(m.v1.at("cpuacct"), "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(m.v1.at("freezer"), "/sys/fs/cgroup/freezer");
  EXPECT_EQ(m.v1.at("pids"), "/sys/fs/cgroup/pids");
  EXPECT_EQ(m.v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
  EXPECT_EQ(m.v1.count("rw"), 0u);
}

TEST(ParseCgroupMounts, PureV2) {
  CgroupMounts m = parse_cgroup_mounts(kPureV2Mountinfo);
  EXPECT_EQ(m.layout, CgroupLayout::V2);
  EXPECT_EQ(m.unified, "/sys/fs/cgroup");
  EXPECT_TRUE(m.v1.empty());
}

TEST(ParseCgroupMounts, PureV1WithCoMountedControllers) {
  CgroupMounts m = parse_cgroup_mounts(kV1Mountinfo);
  EXPECT_EQ(m.layout, CgroupLayout::V1);
  EXPECT_TRUE(m.unified.empty());
  EXPECT_EQ(m.v1.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(m.v1.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(m.v1.at("cpuset"), "/sys/fs/cgroup/cpuset");
  EXPECT_EQ(m.v1.at("name=systemd"), "/sys/fs/cgroup/systemd");
  // Mount options that are not controllers are not taken for controllers.
  EXPECT_EQ(m.v1.count("xattr"), 0u);
  EXPECT_EQ(m.v1.count("clone_children"), 0u);
  for (auto& [k, v] : m.v1) EXPECT_EQ(k.find("release_agent"), std::string::npos) << k;
}

TEST(ParseCgroupMounts, ThisMachine) {
  // The real mountinfo parses to a layout consistent with what is mounted.
  CgroupMounts m = parse_cgroup_mounts(read_file("/proc/self/mountinfo"));
  struct stat st;
  if (m.layout == CgroupLayout::V2) {
    EXPECT_EQ(::stat((m.unified + "/cgroup.controllers").c_str(), &st), 0);
  } else {
    ASSERT_TRUE(m.v1.count("memory"));
    EXPECT_EQ(::stat((m.v1.at("memory") + "/memory.limit_in_bytes").c_str(), &st), 0);
    if (m.layout == CgroupLayout::Hybrid) EXPECT_EQ(::stat((m.unified + "/cgroup.procs").c_str(), &st), 0);
  }
}

TEST(ParseCgroupMounts, NothingMounted) {
  CgroupMounts m = parse_cgroup_mounts("28 1 254:1 / / rw - ext4 /dev/vda1 rw\n");
  EXPECT_TRUE(m.v1.empty());
  EXPECT_TRUE(m.unified.empty());
}

// ---- helpers ----------------------------------------------------------------------------------

TEST(CgroupHelpers, ParsePids) {
  EXPECT_EQ(parse_pids("1\n23\n456\n"), (std::vector<pid_t>{1, 23, 456}));
  EXPECT_TRUE(parse_pids("").empty());
}

TEST(CgroupHelpers, NormalizePath) {
  EXPECT_EQ(normalize_cgroup_path("/cryo/c1/"), "cryo/c1");
  EXPECT_EQ(normalize_cgroup_path("cryo/c1"), "cryo/c1");
  EXPECT_EQ(normalize_cgroup_path("//a//b"), "a/b");
}

TEST(CgroupHelpers, NormalizePathCannotEscapeTheHierarchy) {
  EXPECT_EQ(normalize_cgroup_path("../../etc"), "etc");
  EXPECT_EQ(normalize_cgroup_path("/cryo/../../../x"), "x");
  EXPECT_EQ(normalize_cgroup_path("/a/./b/.."), "a");
}

TEST(CgroupHelpers, SharesToWeight) {
  EXPECT_EQ(shares_to_weight(0), 0u);
  EXPECT_EQ(shares_to_weight(2), 1u);
  EXPECT_EQ(shares_to_weight(1024), 39u);
  EXPECT_EQ(shares_to_weight(262144), 10000u);
}

TEST(CgroupHelpers, DeviceRuleText) {
  oci::DeviceRule deny_all;
  deny_all.allow = false;
  deny_all.type = "a";
  deny_all.access = "rwm";
  EXPECT_EQ(v1_device_rule(deny_all), "a *:* rwm");
  oci::DeviceRule null;
  null.type = "c";
  null.major = 1;
  null.minor = 3;
  null.access = "rwm";
  EXPECT_EQ(v1_device_rule(null), "c 1:3 rwm");
  oci::DeviceRule pts;
  pts.type = "c";
  pts.major = 136;
  pts.minor = -1;
  pts.access = "rw";
  EXPECT_EQ(v1_device_rule(pts), "c 136:* rw");
}

TEST(CgroupHelpers, DefaultDevicesAreTheUsualSet) {
  std::set<std::string> rules;
  for (auto& r : default_device_rules()) {
    EXPECT_TRUE(r.allow);
    rules.insert(v1_device_rule(r));
  }
  for (const char* want : {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
                           "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm"})
    EXPECT_TRUE(rules.count(want)) << want;
}

TEST(OpenCgroup, PicksTheImplementationForTheLayout) {
  auto sys = std::make_shared<FakeSyscalls>();
  auto v2 = open_cgroup(parse_cgroup_mounts(kPureV2Mountinfo), "/cryo/c1", sys);
  EXPECT_NE(dynamic_cast<CgroupV2*>(v2.get()), nullptr);
  EXPECT_EQ(v2->procs_files(), std::vector<std::string>{"/sys/fs/cgroup/cryo/c1/cgroup.procs"});
  auto hybrid = open_cgroup(parse_cgroup_mounts(kHybridMountinfo), "/cryo/c1", sys);
  EXPECT_NE(dynamic_cast<CgroupV1*>(hybrid.get()), nullptr);
  auto v1 = open_cgroup(parse_cgroup_mounts(kV1Mountinfo), "cryo/c1", sys);
  EXPECT_NE(dynamic_cast<CgroupV1*>(v1.get()), nullptr);
}

TEST(OpenCgroup, DotDotInCgroupsPathStaysInTheHierarchy) {
  auto sys = std::make_shared<FakeSyscalls>();
  auto v2 = open_cgroup(parse_cgroup_mounts(kPureV2Mountinfo), "../../../etc", sys);
  EXPECT_EQ(v2->procs_files(), std::vector<std::string>{"/sys/fs/cgroup/etc/cgroup.procs"});
}

// ---- cgroup v1 (hybrid host) --------------------------------------------------------------------

class V1 : public ::testing::Test {
 protected:
  void SetUp() override {
    mounts_ = parse_cgroup_mounts(kHybridMountinfo);
    sys_ = std::make_shared<FakeSyscalls>();
    for (auto& [c, mp] : mounts_.v1) sys_->dirs.insert(mp);
    sys_->dirs.insert(mounts_.unified);
    sys_->dirs.insert("/sys");
    sys_->dirs.insert("/sys/fs");
    sys_->dirs.insert("/sys/fs/cgroup");
    sys_->files["/sys/fs/cgroup/cpuset/cpuset.cpus"] = "0-1\n";
    sys_->files["/sys/fs/cgroup/cpuset/cpuset.mems"] = "0\n";
    cg_ = std::make_unique<CgroupV1>(mounts_, "cryo/c1", sys_);
  }
  std::string m(const std::string& file) { return "/sys/fs/cgroup/memory/cryo/c1/" + file; }

  CgroupMounts mounts_;
  std::shared_ptr<FakeSyscalls> sys_;
  std::unique_ptr<CgroupV1> cg_;
};

TEST_F(V1, CreateMakesOneDirectoryPerHierarchyIncludingUnified) {
  cg_->create();
  for (const char* h : {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
                        "unified"}) {
    EXPECT_TRUE(sys_->dirs.count(std::string("/sys/fs/cgroup/") + h + "/cryo")) << h;
    EXPECT_TRUE(sys_->dirs.count(std::string("/sys/fs/cgroup/") + h + "/cryo/c1")) << h;
  }
  // Parents are made before children.
  auto& log = sys_->log;
  auto pos = [&](const std::string& s) { return std::find(log.begin(), log.end(), s) - log.begin(); };
  EXPECT_LT(pos("mkdir /sys/fs/cgroup/memory/cryo"), pos("mkdir /sys/fs/cgroup/memory/cryo/c1"));
  // Existing levels are not made again.
  EXPECT_EQ(std::count(log.begin(), log.end(), "mkdir /sys/fs/cgroup/memory"), 0);
}

TEST_F(V1, CreateInitialisesEveryNewCpusetLevelFromItsParent) {
  cg_->create();
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/cpuset.cpus"), "0-1\n");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/cpuset.mems"), "0\n");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.cpus"), "0-1\n");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.mems"), "0\n");
  // The parent level is filled before the child reads it.
  EXPECT_LT(sys_->write_index("/sys/fs/cgroup/cpuset/cryo/cpuset.cpus"),
            sys_->write_index("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.cpus"));
  // No other hierarchy gets cpuset files.
  for (auto& p : sys_->written_paths()) EXPECT_EQ(p.rfind("/sys/fs/cgroup/cpuset/", 0), 0u) << p;
}

TEST_F(V1, CreateKeepsAnExistingCpusetLevel) {
  sys_->dirs.insert("/sys/fs/cgroup/cpuset/cryo");
  sys_->files["/sys/fs/cgroup/cpuset/cryo/cpuset.cpus"] = "1\n";
  sys_->files["/sys/fs/cgroup/cpuset/cryo/cpuset.mems"] = "0\n";
  cg_->create();
  EXPECT_EQ(sys_->write_index("/sys/fs/cgroup/cpuset/cryo/cpuset.cpus"), -1);
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.cpus"), "1\n");
}

TEST_F(V1, MemoryLimitAlone) {
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 64 << 20;
  r.memory->reservation = 32 << 20;
  r.memory->swappiness = 10;
  cg_->set(r);
  EXPECT_EQ(sys_->written(m("memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(sys_->written(m("memory.soft_limit_in_bytes")), "33554432");
  EXPECT_EQ(sys_->written(m("memory.swappiness")), "10");
  EXPECT_EQ(sys_->written(m("memory.memsw.limit_in_bytes")), "<unset>");
}

TEST_F(V1, MemswFirstWhenGrowing) {
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 200 << 20;
  r.memory->swap = 400 << 20;
  cg_->set(r);
  EXPECT_EQ(sys_->written(m("memory.memsw.limit_in_bytes")), "419430400");
  EXPECT_EQ(sys_->written(m("memory.limit_in_bytes")), "209715200");
  EXPECT_LT(sys_->write_index(m("memory.memsw.limit_in_bytes")), sys_->write_index(m("memory.limit_in_bytes")));
}

TEST_F(V1, LimitFirstWhenTheKernelRefusesMemswBelowTheCurrentLimit) {
  // A fresh cgroup's limit is unlimited: a memsw below it is EINVAL until the limit is lowered.
  sys_->fail_writes[m("memory.memsw.limit_in_bytes")] = EINVAL;
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 64 << 20;
  r.memory->swap = 128 << 20;
  cg_->set(r);
  EXPECT_EQ(sys_->written(m("memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(sys_->written(m("memory.memsw.limit_in_bytes")), "134217728");
  EXPECT_LT(sys_->write_index(m("memory.limit_in_bytes")), sys_->write_index(m("memory.memsw.limit_in_bytes")));
}

TEST_F(V1, OomKillerDisable) {
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->disable_oom_killer = true;
  cg_->set(r);
  EXPECT_EQ(sys_->written(m("memory.oom_control")), "1");
}

TEST_F(V1, PidsLimit) {
  oci::Resources r;
  r.pids_limit = 20;
  cg_->set(r);
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/pids/cryo/c1/pids.max"), "20");
  r.pids_limit = -1;
  cg_->set(r);
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/pids/cryo/c1/pids.max"), "max");
}

TEST_F(V1, ZeroMeansUnset) {
  oci::Resources r;
  r.pids_limit = 0;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 0;
  r.cpu = oci::CpuResources{};
  r.cpu->shares = 0;
  cg_->set(r);
  EXPECT_TRUE(sys_->writes.empty());
}

TEST_F(V1, Cpu) {
  oci::Resources r;
  r.cpu = oci::CpuResources{};
  r.cpu->shares = 512;
  r.cpu->period = 100000;
  r.cpu->quota = 50000;
  r.cpu->cpus = "0";
  r.cpu->mems = "0";
  cg_->set(r);
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpu/cryo/c1/cpu.shares"), "512");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpu/cryo/c1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpu/cryo/c1/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.cpus"), "0");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/cpuset/cryo/c1/cpuset.mems"), "0");
  // The period goes first: a quota is checked against the current period.
  EXPECT_LT(sys_->write_index("/sys/fs/cgroup/cpu/cryo/c1/cpu.cfs_period_us"),
            sys_->write_index("/sys/fs/cgroup/cpu/cryo/c1/cpu.cfs_quota_us"));
}

TEST_F(V1, DevicesRulesInOrderFollowedByTheDefaults) {
  oci::Resources r;
  oci::DeviceRule deny_all;
  deny_all.allow = false;
  deny_all.access = "rwm";
  deny_all.type = "a";
  oci::DeviceRule fuse;
  fuse.allow = true;
  fuse.type = "c";
  fuse.major = 10;
  fuse.minor = 229;
  fuse.access = "rw";
  r.devices = {deny_all, fuse};
  cg_->set(r);
  const std::string d = "/sys/fs/cgroup/devices/cryo/c1/";
  ASSERT_GE(sys_->writes.size(), 2u + default_device_rules().size());
  EXPECT_EQ(sys_->writes[0].path, d + "devices.deny");
  EXPECT_EQ(sys_->writes[0].data, "a *:* rwm");
  EXPECT_EQ(sys_->writes[1].path, d + "devices.allow");
  EXPECT_EQ(sys_->writes[1].data, "c 10:229 rw");
  std::set<std::string> allowed;
  for (auto& w : sys_->writes)
    if (w.path == d + "devices.allow") allowed.insert(w.data);
  for (const char* want : {"c 1:3 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:2 rwm", "c 136:* rwm"})
    EXPECT_TRUE(allowed.count(want)) << want;
}

TEST_F(V1, BlockIo) {
  oci::Resources r;
  r.block_io = oci::BlockIoResources{};
  r.block_io->weight = 300;
  oci::ThrottleDevice t;
  t.major = 8;
  t.minor = 0;
  t.rate = 1048576;
  r.block_io->throttle_read_bps = {t};
  cg_->set(r);
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/blkio/cryo/c1/blkio.weight"), "300");
  EXPECT_EQ(sys_->written("/sys/fs/cgroup/blkio/cryo/c1/blkio.throttle.read_bps_device"), "8:0 1048576");
}

TEST_F(V1, UnifiedResourcesAreRefused) {
  oci::Resources r;
  r.unified["memory.high"] = "1G";
  try {
    cg_->set(r);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unified"), std::string::npos) << e.what();
  }
}

TEST_F(V1, ControllerNotMountedIsNamed) {
  CgroupMounts no_pids = mounts_;
  no_pids.v1.erase("pids");
  CgroupV1 cg(no_pids, "cryo/c1", sys_);
  oci::Resources r;
  r.pids_limit = 10;
  try {
    cg.set(r);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pids"), std::string::npos) << e.what();
  }
}

TEST_F(V1, AddProcessJoinsEveryHierarchy) {
  cg_->add_process(1234);
  auto files = cg_->procs_files();
  EXPECT_EQ(files.size(), 10u);  // 9 v1 hierarchies + unified
  for (auto& f : files) EXPECT_EQ(sys_->written(f), "1234") << f;
  EXPECT_NE(std::find(files.begin(), files.end(), "/sys/fs/cgroup/unified/cryo/c1/cgroup.procs"), files.end());
}

TEST_F(V1, CoMountedHierarchiesAreJoinedOnce) {
  CgroupV1 cg(parse_cgroup_mounts(kV1Mountinfo), "cryo/c1", sys_);
  auto files = cg.procs_files();
  EXPECT_EQ(files.size(), 4u);  // systemd, cpu+cpuacct, cpuset, memory
}

TEST_F(V1, FreezeAndThaw) {
  const std::string state = "/sys/fs/cgroup/freezer/cryo/c1/freezer.state";
  sys_->files[state] = "THAWED\n";
  EXPECT_FALSE(cg_->frozen());
  cg_->freeze();
  EXPECT_EQ(sys_->written(state), "FROZEN");
  EXPECT_TRUE(cg_->frozen());
  cg_->thaw();
  EXPECT_EQ(sys_->written(state), "THAWED");
  EXPECT_FALSE(cg_->frozen());
}

TEST_F(V1, FreezeWaitsWhileFreezing) {
  const std::string state = "/sys/fs/cgroup/freezer/cryo/c1/freezer.state";
  int polls = 0;
  sys_->on_write = [&](const std::string& path, const std::string& data) {
    if (path == state && data == "FROZEN") sys_->files[state] = "FREEZING\n";
  };
  // The kernel reports FREEZING for a few polls, then FROZEN.
  sys_->on_read = [&](const std::string& path) {
    if (path == state && ++polls == 5) sys_->files[state] = "FROZEN\n";
  };
  cg_->freeze();
  EXPECT_GE(polls, 5);
  EXPECT_TRUE(cg_->frozen());
}

TEST_F(V1, FreezeThatNeverCompletesThawsAndThrows) {
  const std::string state = "/sys/fs/cgroup/freezer/cryo/c1/freezer.state";
  sys_->on_write = [&](const std::string& path, const std::string& data) {
    if (path == state && data == "FROZEN") sys_->files[state] = "FREEZING\n";
  };
  EXPECT_THROW(cg_->freeze(), Error);
  EXPECT_EQ(sys_->written(state), "THAWED");
}

TEST_F(V1, PidsComeFromAHierarchyThatHasThem) {
  sys_->files["/sys/fs/cgroup/pids/cryo/c1/cgroup.procs"] = "10\n11\n";
  EXPECT_EQ(cg_->pids(), (std::vector<pid_t>{10, 11}));
}

TEST_F(V1, DestroyRemovesEveryDirectory) {
  cg_->create();
  cg_->destroy();
  for (const char* h : {"cpu", "memory", "freezer", "pids", "systemd", "unified"})
    EXPECT_FALSE(sys_->dirs.count(std::string("/sys/fs/cgroup/") + h + "/cryo/c1")) << h;
}

TEST_F(V1, StatsShape) {
  sys_->files["/sys/fs/cgroup/cpuacct/cryo/c1/cpuacct.usage"] = "12345\n";
  sys_->files[m("memory.usage_in_bytes")] = "4096\n";
  sys_->files[m("memory.limit_in_bytes")] = "8192\n";
  sys_->files["/sys/fs/cgroup/pids/cryo/c1/pids.current"] = "3\n";
  auto s = cg_->stats();
  EXPECT_EQ(s["cpu"]["usage"]["total"], 12345u);
  EXPECT_EQ(s["memory"]["usage"]["usage"], 4096u);
  EXPECT_EQ(s["memory"]["usage"]["limit"], 8192u);
  EXPECT_EQ(s["pids"]["current"], 3u);
}

// ---- cgroup v2 ----------------------------------------------------------------------------------

class V2 : public ::testing::Test {
 protected:
  void SetUp() override {
    sys_ = std::make_shared<FakeSyscalls>();
    sys_->dirs = {"/sys", "/sys/fs", "/sys/fs/cgroup"};
    sys_->files["/sys/fs/cgroup/cgroup.controllers"] = "cpuset cpu io memory pids\n";
    sys_->files["/sys/fs/cgroup/cgroup.subtree_control"] = "";
    // The kernel gives every new cgroup its interface files.
    sys_->on_mkdir = [this](const std::string& path) {
      sys_->files[path + "/cgroup.controllers"] = "";
      sys_->files[path + "/cgroup.subtree_control"] = "";
    };
    // A child's cgroup.controllers is whatever its parent delegates, at the time of reading.
    sys_->on_read = [this](const std::string& path) {
      const std::string name = "/cgroup.controllers";
      if (path == "/sys/fs/cgroup" + name || path.size() < name.size() ||
          path.substr(path.size() - name.size()) != name)
        return;
      std::string dir = path.substr(0, path.size() - name.size());
      sys_->files[path] = sys_->files[dir.substr(0, dir.find_last_of('/')) + "/cgroup.subtree_control"];
    };
    // Enabling a controller is recorded in subtree_control (the fake replaces, so accumulate).
    sys_->on_write = [this](const std::string& path, const std::string& data) {
      if (path.size() > 22 && path.substr(path.size() - 22) == "cgroup.subtree_control" && data[0] == '+') {
        enabled_[path] += data.substr(1) + " ";
        sys_->files[path] = enabled_[path];
      }
      if (path == dir_ + "/cgroup.freeze") sys_->files[dir_ + "/cgroup.events"] = "populated 1\nfrozen " + data + "\n";
    };
    cg_ = std::make_unique<CgroupV2>(dir_, sys_);
  }
  std::string f(const std::string& file) { return dir_ + "/" + file; }

  const std::string dir_ = "/sys/fs/cgroup/cryo/c1";
  std::map<std::string, std::string> enabled_;
  std::shared_ptr<FakeSyscalls> sys_;
  std::unique_ptr<CgroupV2> cg_;
};

TEST_F(V2, CreateMakesTheDirectoryAndDelegatesControllersDown) {
  cg_->create();
  EXPECT_TRUE(sys_->dirs.count("/sys/fs/cgroup/cryo"));
  EXPECT_TRUE(sys_->dirs.count(dir_));
  for (const char* c : {"cpu", "memory", "pids", "io", "cpuset"}) {
    EXPECT_NE(sys_->files["/sys/fs/cgroup/cgroup.subtree_control"].find(c), std::string::npos) << c;
    EXPECT_NE(sys_->files["/sys/fs/cgroup/cryo/cgroup.subtree_control"].find(c), std::string::npos) << c;
  }
  // The leaf itself delegates nothing (it holds processes).
  EXPECT_EQ(sys_->written(dir_ + "/cgroup.subtree_control"), "<unset>");
  // The root enables before its child.
  EXPECT_LT(sys_->write_index("/sys/fs/cgroup/cgroup.subtree_control"),
            sys_->write_index("/sys/fs/cgroup/cryo/cgroup.subtree_control"));
}

TEST_F(V2, ABusyControllerDoesNotFailCreate) {
  sys_->fail_writes["/sys/fs/cgroup/cgroup.subtree_control"] = EBUSY;
  EXPECT_NO_THROW(cg_->create());
}

TEST_F(V2, MemoryAndSwapConversion) {
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = 100 << 20;
  r.memory->swap = 300 << 20;  // memory+swap in the spec
  r.memory->reservation = 50 << 20;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("memory.max")), "104857600");
  EXPECT_EQ(sys_->written(f("memory.swap.max")), "209715200");
  EXPECT_EQ(sys_->written(f("memory.low")), "52428800");
}

TEST_F(V2, UnlimitedMemoryAndSwap) {
  oci::Resources r;
  r.memory = oci::MemoryResources{};
  r.memory->limit = -1;
  r.memory->swap = -1;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("memory.max")), "max");
  EXPECT_EQ(sys_->written(f("memory.swap.max")), "max");
}

TEST_F(V2, CpuWeightAndMax) {
  oci::Resources r;
  r.cpu = oci::CpuResources{};
  r.cpu->shares = 1024;
  r.cpu->quota = 50000;
  r.cpu->period = 100000;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("cpu.weight")), "39");
  EXPECT_EQ(sys_->written(f("cpu.max")), "50000 100000");
}

TEST_F(V2, CpuMaxWithOnlyAPeriodIsUnlimitedQuota) {
  oci::Resources r;
  r.cpu = oci::CpuResources{};
  r.cpu->period = 200000;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("cpu.max")), "max 200000");
  r.cpu->period.reset();
  r.cpu->quota = 25000;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("cpu.max")), "25000 100000");
}

TEST_F(V2, PidsMax) {
  oci::Resources r;
  r.pids_limit = 20;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("pids.max")), "20");
  r.pids_limit = -1;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("pids.max")), "max");
}

TEST_F(V2, IoWeight) {
  oci::Resources r;
  r.block_io = oci::BlockIoResources{};
  r.block_io->weight = 100;
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("io.weight")), "default 100");
}

TEST_F(V2, UnifiedWritesFilesVerbatim) {
  oci::Resources r;
  r.unified["memory.high"] = "1073741824";
  r.unified["pids.max"] = "7";
  cg_->set(r);
  EXPECT_EQ(sys_->written(f("memory.high")), "1073741824");
  EXPECT_EQ(sys_->written(f("pids.max")), "7");
}

TEST_F(V2, UnifiedRefusesNamesThatLeaveTheCgroup) {
  for (const char* bad : {"../cgroup.procs", "..", "a/b", "../../etc/passwd"}) {
    oci::Resources r;
    r.unified[bad] = "1";
    size_t before = sys_->writes.size();
    try {
      cg_->set(r);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
    EXPECT_EQ(sys_->writes.size(), before) << bad;
  }
}

TEST_F(V2, FreezeAndThaw) {
  sys_->files[f("cgroup.events")] = "populated 1\nfrozen 0\n";
  EXPECT_FALSE(cg_->frozen());
  cg_->freeze();
  EXPECT_EQ(sys_->written(f("cgroup.freeze")), "1");
  EXPECT_TRUE(cg_->frozen());
  cg_->thaw();
  EXPECT_EQ(sys_->written(f("cgroup.freeze")), "0");
  EXPECT_FALSE(cg_->frozen());
}

TEST_F(V2, FreezeThatNeverCompletesThawsAndThrows) {
  sys_->on_write = nullptr;  // cgroup.events never reports frozen
  sys_->files[f("cgroup.events")] = "populated 1\nfrozen 0\n";
  EXPECT_THROW(cg_->freeze(), Error);
  EXPECT_EQ(sys_->written(f("cgroup.freeze")), "0");
}

TEST_F(V2, PidsAddProcessDestroy) {
  cg_->create();
  cg_->add_process(77);
  EXPECT_EQ(sys_->written(f("cgroup.procs")), "77");
  sys_->files[f("cgroup.procs")] = "77\n78\n";
  EXPECT_EQ(cg_->pids(), (std::vector<pid_t>{77, 78}));
  EXPECT_TRUE(cg_->exists());
  cg_->destroy();
  EXPECT_FALSE(cg_->exists());
}

TEST_F(V2, StatsShape) {
  sys_->files[f("cpu.stat")] = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n";
  sys_->files[f("memory.current")] = "8192\n";
  sys_->files[f("pids.current")] = "2\n";
  auto s = cg_->stats();
  EXPECT_EQ(s["cpu"]["usage"]["total"], 1500000u);
  EXPECT_EQ(s["memory"]["usage"]["usage"], 8192u);
  EXPECT_EQ(s["pids"]["current"], 2u);
}

}  // namespace
}  // namespace cryo::runtime
