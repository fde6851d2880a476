// Isolation, security settings, resource limits, config errors and the two runc CVEs.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/runtime_fixture.h"

namespace cryo::it {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- namespaces -------------------------------------------------------------------------------

TEST_F(RuntimeTest, InitIsPidOne) {
  Outcome r = run_container({"sh", "-c", "echo $$; ps -o pid,comm | wc -l"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string pid, count;
  std::getline(lines, pid);
  std::getline(lines, count);
  EXPECT_EQ(pid, "1");
  EXPECT_LE(std::stoi(trim(count)), 4) << "the container sees only its own processes";
}

TEST_F(RuntimeTest, OwnHostname) {
  config_["hostname"] = "it-box";
  char before[256] = {};
  ::gethostname(before, sizeof before);
  Outcome r = run_container({"hostname"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(trim(r.out), "it-box");
  char after[256] = {};
  ::gethostname(after, sizeof after);
  EXPECT_STREQ(before, after);
}

TEST_F(RuntimeTest, OwnMountTable) {
  std::string host_before = read_text("/proc/self/mountinfo");
  Outcome r = run_container({"cat", "/proc/self/mountinfo"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::set<std::string> points;  // field 5 of each line
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    points.insert(point);
    if (point == "/") {
      EXPECT_EQ(root, rootfs_) << "the root is the bundle's rootfs";
    }
  }
  EXPECT_TRUE(points.count("/")) << r.out;
  EXPECT_TRUE(points.count("/proc")) << r.out;
  EXPECT_TRUE(points.count("/dev")) << r.out;
  EXPECT_EQ(r.out.find(" /work"), std::string::npos) << r.out;         // no host mounts
  EXPECT_EQ(r.out.find(" /sys/fs/cgroup/memory/cryo"), std::string::npos) << r.out;
  // Nothing the container mounted propagated to the host.
  EXPECT_EQ(read_text("/proc/self/mountinfo").find(rootfs_), std::string::npos);
}

TEST_F(RuntimeTest, NewNetworkNamespaceHasOnlyLoopback) {
  Outcome r = run_container({"sh", "-c", "ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line))
    if (!trim(line).empty()) names.push_back(trim(line));
  EXPECT_EQ(names, (std::vector<std::string>{"lo", "lo"})) << r.out;
}

// A new time namespace with linux.timeOffsets: the container's boot clock runs a day ahead of
// the host's, and the host's clock is untouched.
TEST_F(RuntimeTest, TimeNamespaceAppliesTheOffsets) {
  config_["linux"]["namespaces"].push_back({{"type", "time"}});
  config_["linux"]["timeOffsets"] = {{"boottime", {{"secs", 86400}, {"nanosecs", 0}}},
                                     {"monotonic", {{"secs", 3600}}}};
  auto uptime = [] { return std::stod(read_text("/proc/uptime")); };
  double host_before = uptime();
  Outcome r = run_container({"sh", "-c", "readlink /proc/self/ns/time; cut -d' ' -f1 /proc/uptime"});
  double host_after = uptime();
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string ns, inside;
  std::getline(lines, ns);
  std::getline(lines, inside);
  EXPECT_NE(ns, fs::read_symlink("/proc/self/ns/time").string());
  EXPECT_GE(std::stod(inside), host_before + 86400) << r.out;
  EXPECT_LE(std::stod(inside), host_after + 86400 + 1) << r.out;
  EXPECT_LT(host_after - host_before, 60) << "the host's clock moved";
}

TEST_F(RuntimeTest, TimeOffsetsWithoutATimeNamespaceAreRefused) {
  config_["linux"]["timeOffsets"] = {{"boottime", {{"secs", 5}}}};
  Outcome r = run_container({"true"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("linux.timeOffsets"), std::string::npos) << r.text();
}

TEST_F(RuntimeTest, OwnIpcNamespace) {
  Outcome r = run_container({"sh", "-c", "readlink /proc/self/ns/ipc"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(trim(r.out), fs::read_symlink("/proc/self/ns/ipc").string());
}

TEST_F(RuntimeTest, UserNamespaceMapsIds) {
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  fs::create_directories(rootfs_ + "/data");
  ASSERT_EQ(::chown((rootfs_ + "/data").c_str(), 100000, 100000), 0);
  Outcome r = run_container({"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /data/made-inside"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream lines(r.out);
  std::string uid_map, gid_map, uid;
  std::getline(lines, uid_map);
  std::getline(lines, gid_map);
  std::getline(lines, uid);
  auto fields = [](const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> f;
    std::string w;
    while (in >> w) f.push_back(w);
    return f;
  };
  EXPECT_EQ(fields(uid_map), (std::vector<std::string>{"0", "100000", "65536"}));
  EXPECT_EQ(fields(gid_map), (std::vector<std::string>{"0", "100000", "65536"}));
  EXPECT_EQ(uid, "0");
  struct stat st;
  ASSERT_EQ(::stat((rootfs_ + "/data/made-inside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
}

// ---- no mount namespace ------------------------------------------------------------------------

// config without a mount namespace, and without what would need one (cryo refuses those fields:
// see ConfigErrorTest.NoMountNamespace*): the container shares the host's mount table.
void drop_mount_namespace(json& config) {
  auto& nss = config["linux"]["namespaces"];
  for (auto it = nss.begin(); it != nss.end();) it = (*it)["type"] == "mount" ? nss.erase(it) : it + 1;
  config.erase("mounts");
  config["linux"].erase("maskedPaths");
  config["linux"].erase("readonlyPaths");
}

std::string ns_of(pid_t pid, const std::string& type) {
  return fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + type).string();
}

// Lines of the host's mount table with a mount point under `dir`: nothing of a container without
// a mount namespace may show up there.
std::vector<std::string> host_mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream lines(read_text("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(lines, line))
    if (line.find(" " + dir + "/") != std::string::npos) out.push_back(line);
  return out;
}

// The container runs chrooted in its root with its cwd inside it, sees none of the host's files
// and mounts nothing: the host's mount table is the same before and after.
TEST_F(RuntimeTest, NoMountNamespaceRunsConfinedToItsRoot) {
  drop_mount_namespace(config_);
  config_["process"]["cwd"] = "/tmp";
  write_text(rootfs_ + "/marker", "inside-the-rootfs\n");
  Outcome r = run_container({"sh", "-c", "cat /marker; pwd; test -e " + dir_ + " && echo host-dir-visible; true"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.out, "inside-the-rootfs\n/tmp\n");
  EXPECT_TRUE(host_mounts_under(dir_).empty()) << host_mounts_under(dir_)[0];
}

// Only the mount namespace is the host's: the others listed are the container's own. exec, kill
// and delete work on it, and exec'd processes are confined to the same root.
TEST_F(RuntimeTest, NoMountNamespaceSharesOnlyTheMountNamespace) {
  drop_mount_namespace(config_);
  write_text(rootfs_ + "/marker", "seen-by-exec\n");
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_TRUE(wait_status(id, "running"));
  pid_t pid = state(id)["pid"];
  EXPECT_EQ(ns_of(pid, "mnt"), fs::read_symlink("/proc/self/ns/mnt").string());
  for (const char* type : {"pid", "net", "ipc", "uts", "cgroup"})
    EXPECT_NE(ns_of(pid, type), fs::read_symlink(std::string("/proc/self/ns/") + type).string()) << type;
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid) + "/root"), fs::canonical(rootfs_));
  Outcome e = cryo({"exec", id, "sh", "-c", "cat /marker; pwd"});
  EXPECT_EQ(e.code, 0) << e.text();
  EXPECT_EQ(e.out, "seen-by-exec\n/\n");
  Outcome k = cryo({"kill", id, "KILL"});
  EXPECT_EQ(k.code, 0) << k.text();
  EXPECT_TRUE(wait_status(id, "stopped"));
  Outcome d = cryo({"delete", id});
  EXPECT_EQ(d.code, 0) << d.text();
  expect_nothing_left(id);
  EXPECT_TRUE(host_mounts_under(dir_).empty()) << host_mounts_under(dir_)[0];
}

// chroot works for the root of a new user namespace too, for the init and for exec.
TEST_F(RuntimeTest, NoMountNamespaceWithAUserNamespace) {
  drop_mount_namespace(config_);
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  write_text(rootfs_ + "/marker", "user-ns\n");
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_TRUE(wait_status(id, "running"));
  pid_t pid = state(id)["pid"];
  EXPECT_EQ(ns_of(pid, "mnt"), fs::read_symlink("/proc/self/ns/mnt").string());
  EXPECT_NE(ns_of(pid, "user"), fs::read_symlink("/proc/self/ns/user").string());
  Outcome e = cryo({"exec", id, "sh", "-c", "cat /marker; id -u"});
  EXPECT_EQ(e.code, 0) << e.text();
  EXPECT_EQ(e.out, "user-ns\n0\n");
}

// Sysctls are written before the chroot (the root has no /proc), yet land in the container's
// network namespace, not the host's.
TEST_F(RuntimeTest, NoMountNamespaceSysctlGoesToTheContainersNamespace) {
  drop_mount_namespace(config_);
  const std::string key = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
  std::string host_before = read_text(key);
  config_["linux"]["sysctl"] = {{"net.ipv4.ip_unprivileged_port_start", "42"}};
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_TRUE(wait_status(id, "running"));
  pid_t pid = state(id)["pid"];
  Outcome inside = run_cmd({"nsenter", "-t", std::to_string(pid), "-n", "cat", key});
  ASSERT_EQ(inside.code, 0) << inside.text();
  EXPECT_EQ(trim(inside.out), "42");
  EXPECT_EQ(read_text(key), host_before);
}

// Checkpoint is refused before anything is frozen, naming the field; the container runs on.
TEST_F(RuntimeTest, NoMountNamespaceCheckpointIsRefused) {
  drop_mount_namespace(config_);
  std::string id = start_detached({"sleep", "1000"});
  ASSERT_TRUE(wait_status(id, "running"));
  Outcome c = cryo({"checkpoint", "--image-path", dir_ + "/image", id});
  EXPECT_NE(c.code, 0) << c.text();
  EXPECT_NE(c.err.find("linux.namespaces has no \"mount\""), std::string::npos) << c.text();
  EXPECT_EQ(status(id), "running");
  EXPECT_FALSE(fs::exists(dir_ + "/image/cryo-checkpoint.json"));
}

// ---- filesystem protections ---------------------------------------------------------------------

TEST_F(RuntimeTest, ReadonlyRoot) {
  config_["root"]["readonly"] = true;
  Outcome r = run_container({"sh", "-c", "touch /should-fail"});
  EXPECT_NE(r.code, 0) << r.text();
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.text();
  EXPECT_FALSE(fs::exists(rootfs_ + "/should-fail"));
  // Mounts on top stay writable.
  add_tmpfs("/tmp");
  Outcome w = run_container({"sh", "-c", "touch /tmp/ok && echo ok"});
  EXPECT_EQ(trim(w.out), "ok") << w.text();
}

TEST_F(RuntimeTest, MaskedPaths) {
  // Masked files read empty, masked directories list empty (only those this kernel has).
  std::string script, want;
  for (auto& p : config_["linux"]["maskedPaths"]) {
    std::string path = p;
    if (!fs::exists(path)) continue;
    script += fs::is_directory(path) ? "ls -A " + path + " | wc -l; " : "wc -c < " + path + "; ";
    want += "0\n";
  }
  ASSERT_FALSE(want.empty()) << "no masked path exists on this host";
  ASSERT_TRUE(fs::exists("/proc/timer_list"));
  Outcome r = run_container({"sh", "-c", script});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.out, want) << script;
}

TEST_F(RuntimeTest, MaskedDirectoriesShareOneReadOnlyTmpfs) {
  config_["linux"]["maskedPaths"] = {"/proc/acpi", "/sys/firmware", "/proc/bus", "/proc/irq"};
  config_["linux"]["readonlyPaths"] = nlohmann::json::array();
  Outcome r = run_container({"sh", "-c",
                             "for d in /proc/acpi /sys/firmware /proc/bus /proc/irq; do "
                             "m=$(grep \" $d \" /proc/self/mountinfo); "
                             "echo $(echo \"$m\" | cut -d' ' -f3) $(echo \"$m\" | sed 's/.* - //' | cut -d' ' -f1); "
                             "touch $d/x 2>/dev/null && echo writable; ls -A $d | wc -l; done"});
  ASSERT_EQ(r.code, 0) << r.text();
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 8u) << r.out;
  for (size_t i = 0; i < 8; i += 2) {
    EXPECT_EQ(lines[i], lines[0]) << "not the same tmpfs: " << r.out;
    EXPECT_EQ(lines[i + 1], "0") << r.out;
  }
  EXPECT_NE(lines[0].find("tmpfs"), std::string::npos) << r.out;
}

TEST_F(RuntimeTest, ReadonlyPaths) {
  Outcome r = run_container({"sh", "-c", "grep ' /proc/sys ' /proc/self/mountinfo; echo 1 > /proc/sys/vm/drop_caches"});
  EXPECT_NE(r.code, 0) << r.text();
  EXPECT_NE(r.out.find(" ro,"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r.text();
}

TEST_F(RuntimeTest, MountTargetThroughASymlinkStaysInsideTheRoot) {
  // /etc/evil -> /../../<host dir>: the mount must land inside the rootfs, never on the host.
  std::string host_target = dir_ + "/host-target";
  fs::create_directories(host_target);
  fs::create_symlink("/../../.." + host_target, rootfs_ + "/etc/evil");
  std::string source = dir_ + "/source";
  fs::create_directories(source);
  write_text(source + "/marker", "from-source");
  add_mount("/etc/evil", "bind", source, {"rbind", "ro"});
  Outcome r = run_container({"cat", "/etc/evil/marker"});
  EXPECT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(r.out, "from-source");
  EXPECT_FALSE(fs::exists(host_target + "/marker")) << "the bind landed on the host";
  EXPECT_EQ(read_text("/proc/self/mountinfo").find(host_target), std::string::npos);
  EXPECT_TRUE(fs::is_directory(rootfs_ + host_target)) << "the target was made inside the rootfs";
}

// ---- capabilities, seccomp --------------------------------------------------------------------

TEST_F(RuntimeTest, CapabilitiesAreDropped) {
  add_tmpfs("/tmp");
  Outcome r = run_container({"sh", "-c", "grep CapEff /proc/self/status; hostname x 2>&1; mount -t tmpfs t /tmp 2>&1; "
                                         "echo done"});
  ASSERT_EQ(r.code, 0) << r.text();
  // CAP_AUDIT_WRITE, CAP_KILL and CAP_NET_BIND_SERVICE only.
  EXPECT_NE(r.out.find("CapEff:\t0000000020000420"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hostname: sethostname: Operation not permitted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mount: permission denied"), std::string::npos) << r.out;
}

// A capability the host withholds from cryo (here: cryo runs without CAP_SYS_MODULE, as root on
// these VMs runs without CAP_SYS_RESOURCE) cannot be granted. `create` says so, and leaves nothing;
// the init must not wait for `start` only to die there.
TEST_F(RuntimeTest, CapabilityCryoDoesNotHoldFailsCreate) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
  for (auto set : {"bounding", "effective", "permitted"})
    config_["process"]["capabilities"][set].push_back("CAP_SYS_MODULE");
  set_args({"true"});
  std::string id = new_id();
  Outcome r = run_cmd({"setpriv", "--bounding-set", "-sys_module", "--", CRYO_BIN, "--root", state_root_, "create",
                       "--bundle", bundle_, id});
  EXPECT_NE(r.code, 0) << r.text();
  EXPECT_NE(r.err.find("process.capabilities.permitted: CAP_SYS_MODULE"), std::string::npos) << r.text();
  EXPECT_NE(cryo({"state", id}).code, 0);
  expect_nothing_left(id);
}

TEST_F(RuntimeTest, NoNewPrivilegesIsSet) {
  Outcome r = run_container({"grep", "NoNewPrivs", "/proc/self/status"});
  EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.text();
}

TEST_F(RuntimeTest, RlimitsApply) {
  config_["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 123}, {"hard", 456}}};
  Outcome r = run_container({"sh", "-c", "ulimit -n; ulimit -Hn"});
  EXPECT_EQ(r.out, "123\n456\n") << r.text();
}

TEST_F(RuntimeTest, SeccompErrnoBlocksOneSyscall) {
  add_tmpfs("/tmp");
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"}},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  Outcome r = run_container({"sh", "-c", "mkdir /tmp/blocked; echo mkdir=$?; touch /tmp/file && echo touch-ok"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.out.find("mkdir=1"), std::string::npos) << r.text();
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.text();
  EXPECT_NE(r.out.find("touch-ok"), std::string::npos) << r.text();
  // exec'd processes get the same filter.
  std::string id = start_detached({"sleep", "1000"});
  Outcome e = cryo({"exec", id, "mkdir", "/tmp/from-exec"});
  EXPECT_NE(e.code, 0) << e.text();
  EXPECT_NE(e.err.find("Operation not permitted"), std::string::npos) << e.text();
}

TEST_F(RuntimeTest, SeccompWithoutNoNewPrivileges) {
  add_tmpfs("/tmp");
  config_["process"]["noNewPrivileges"] = false;
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  Outcome r = run_container({"sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"});
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.text();
}

// A profile that predates close_range(2) (Docker's before 2020, runtime-tools' default) refuses
// it; loaded early (no noNewPrivileges), it is in force when the init marks inherited fds
// close-on-exec. The container must still run, and an inherited fd must still not reach it.
TEST_F(RuntimeTest, SeccompProfileWithoutCloseRange) {
  config_["process"]["noNewPrivileges"] = false;
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"close_range"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  write_text(dir_ + "/leak", "leaked\n");
  int fd = ::open((dir_ + "/leak").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  set_args({"sh", "-c", "echo started; cat <&7"});
  RunOptions o;
  o.fds = {{7, fd}};
  Outcome r = cryo({"run", "--bundle", bundle_, new_id()}, o);
  ::close(fd);
  EXPECT_NE(r.out.find("started"), std::string::npos) << r.text();
  EXPECT_EQ(r.out.find("leaked"), std::string::npos) << r.text();
  EXPECT_NE(r.code, 0) << r.text();  // cat: fd 7 is closed
}

// linux.devices are made even when the device rules deny mknod (the usual leading deny-all rule),
// and the rules still hold once the container runs.
TEST_F(RuntimeTest, DevicesAreMadeUnderADenyAllDeviceRule) {
  config_["linux"]["resources"]["devices"] = {{{"allow", false}, {"access", "rwm"}}};
  config_["linux"]["devices"] = {
      {{"path", "/dev/test1"}, {"type", "c"}, {"major", 10}, {"minor", 666}, {"fileMode", 0660}},
      {{"path", "/dev/test3"}, {"type", "p"}, {"fileMode", 0660}}};
  Outcome r = run_container({"sh", "-c", "ls -l /dev/test1 /dev/test3; head -c1 /dev/test1; echo rc=$?"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_NE(r.out.find("10, 666"), std::string::npos) << r.text();
  EXPECT_NE(r.out.find("prw-rw----"), std::string::npos) << r.text();
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.text();
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.text();  // the rule, not ENXIO
}

// ---- resources --------------------------------------------------------------------------------

TEST_F(RuntimeTest, MemoryLimitOomKills) {
  config_["linux"]["resources"]["memory"] = {{"limit", 32 << 20}, {"swap", 32 << 20}};
  Outcome r = run_container({"it_helper", "alloc", "256"});
  EXPECT_EQ(r.code, 128 + 9) << r.text();
  EXPECT_EQ(r.out.find("survived"), std::string::npos) << r.text();
  // Under the limit the same helper lives.
  Outcome ok = run_container({"it_helper", "alloc", "8"});
  EXPECT_EQ(ok.code, 0) << ok.text();
  EXPECT_EQ(trim(ok.out), "survived");
}

TEST_F(RuntimeTest, PidsLimitContainsAForkBomb) {
  config_["linux"]["resources"]["pids"] = {{"limit", 20}};
  Outcome r = run_container({"it_helper", "fork", "50"});
  ASSERT_EQ(r.code, 0) << r.text();
  int ok = -1, fail = -1;
  char err[64] = {};
  ASSERT_EQ(std::sscanf(r.out.c_str(), "ok=%d fail=%d errno=%63s", &ok, &fail, err), 3) << r.out;
  EXPECT_EQ(ok, 19) << r.out;  // the helper itself is the 20th
  EXPECT_EQ(fail, 31) << r.out;
  EXPECT_STREQ(err, "EAGAIN");
  // The host is unaffected.
  EXPECT_EQ(run_cmd({"sh", "-c", "true & wait"}).code, 0);
}

TEST_F(RuntimeTest, CpuAndCgroupsPathSettings) {
  std::string cg = "/cryo-it/" + std::to_string(::getpid()) + "/custom";
  config_["linux"]["cgroupsPath"] = cg;
  config_["linux"]["resources"]["cpu"] = {{"shares", 512}, {"quota", 50000}, {"period", 100000}};
  std::string id = start_detached({"sleep", "1000"});
  std::string cpu = "/sys/fs/cgroup/cpu" + cg;
  if (fs::exists("/sys/fs/cgroup/cpu")) {
    EXPECT_EQ(trim(read_text(cpu + "/cpu.shares")), "512");
    EXPECT_EQ(trim(read_text(cpu + "/cpu.cfs_quota_us")), "50000");
  } else {
    EXPECT_EQ(trim(read_text("/sys/fs/cgroup" + cg + "/cpu.max")), "50000 100000");
  }
  EXPECT_EQ(cryo({"delete", "--force", id}).code, 0);
  for (auto& e : fs::directory_iterator("/sys/fs/cgroup")) EXPECT_FALSE(fs::exists(e.path().string() + cg));
  // Remove the (empty) parents this test made.
  for (auto& e : fs::directory_iterator("/sys/fs/cgroup")) {
    std::error_code ec;
    fs::remove(e.path().string() + "/cryo-it/" + std::to_string(::getpid()), ec);
    fs::remove(e.path().string() + "/cryo-it", ec);
  }
}

// ---- config errors leave nothing behind --------------------------------------------------------

class ConfigErrorTest : public RuntimeTest {
 protected:
  // `cryo run` must fail naming `field`, and leave no state, cgroup or process.
  void expect_rejected(const std::string& field) {
    std::string id = new_id();
    Outcome r = cryo({"run", "--bundle", bundle_, id});
    EXPECT_NE(r.code, 0) << r.text();
    EXPECT_NE(r.err.find(field), std::string::npos) << "error should name " << field << ": " << r.text();
    expect_nothing_left(id);
    std::string id2 = new_id();
    Outcome c = cryo({"create", "--bundle", bundle_, id2});
    EXPECT_NE(c.code, 0) << c.text();
    expect_nothing_left(id2);
  }
};

TEST_F(ConfigErrorTest, BadJson) {
  write_text(bundle_ + "/config.json", "{\"ociVersion\": \"1.2.0\", \"process\": {");
  expect_rejected("config.json");
}

TEST_F(ConfigErrorTest, UnknownNamespace) {
  config_["linux"]["namespaces"].push_back({{"type", "bogus"}});
  save_config();
  expect_rejected("linux.namespaces");
}

TEST_F(ConfigErrorTest, HugeMemoryLimit) {
  config_["linux"]["resources"]["memory"] = {{"limit", 1e30}};
  save_config();
  expect_rejected("linux.resources.memory.limit");
}

TEST_F(ConfigErrorTest, HugeUid) {
  config_["process"]["user"]["uid"] = 1ull << 40;
  save_config();
  expect_rejected("process.user.uid");
}

TEST_F(ConfigErrorTest, NegativePidsLimitBelowMinusOne) {
  config_["linux"]["resources"]["pids"] = {{"limit", -5}};
  save_config();
  expect_rejected("linux.resources.pids.limit");
}

TEST_F(ConfigErrorTest, MissingExecutable) {
  config_["process"]["args"] = {"/bin/does-not-exist"};
  save_config();
  expect_rejected("/bin/does-not-exist");
}

TEST_F(ConfigErrorTest, MountThatFailsInsideTheInit) {
  config_["mounts"].push_back({{"destination", "/mnt"}, {"type", "no-such-fs"}, {"source", "none"}});
  save_config();
  expect_rejected("/mnt");
}

TEST_F(ConfigErrorTest, UnknownCapability) {
  config_["process"]["capabilities"]["bounding"].push_back("CAP_BOGUS");
  save_config();
  expect_rejected("CAP_BOGUS");
}

TEST_F(ConfigErrorTest, BadSeccompSyscall) {
  config_["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                 {"syscalls", {{{"names", {"not_a_syscall"}}, {"action", "SCMP_ACT_BOGUS"}}}}};
  save_config();
  expect_rejected("SCMP_ACT_BOGUS");
}

// The default config minus its mount namespace: /proc, /dev, ... would be mounted on the host.
TEST_F(ConfigErrorTest, NoMountNamespaceWithMounts) {
  auto& nss = config_["linux"]["namespaces"];
  for (auto it = nss.begin(); it != nss.end();) it = (*it)["type"] == "mount" ? nss.erase(it) : it + 1;
  save_config();
  expect_rejected("mounts[0]: needs a mount namespace, and linux.namespaces has no \"mount\"");
  config_.erase("mounts");
  save_config();
  expect_rejected("linux.maskedPaths: needs a mount namespace");
  EXPECT_TRUE(host_mounts_under(dir_).empty()) << host_mounts_under(dir_)[0];
}

TEST_F(ConfigErrorTest, MissingRootfs) {
  config_["root"]["path"] = "no-such-rootfs";
  save_config();
  expect_rejected("root.path");
}

// ---- CVEs ---------------------------------------------------------------------------------------

TEST_F(RuntimeTest, Cve2019_5736_TheHostBinaryCannotBeOverwritten) {
  std::string before = file_bytes(CRYO_BIN);
  ASSERT_FALSE(before.empty());
  // A created container's init is still cryo (from a sealed memfd) until `start`.
  set_args({"true"});
  std::string id = new_id();
  ASSERT_EQ(cryo({"create", "--bundle", bundle_, id}).code, 0);
  pid_t init = state(id)["pid"];
  std::string exe = fs::read_symlink("/proc/" + std::to_string(init) + "/exe").string();
  EXPECT_EQ(exe.rfind("/memfd:", 0), 0u) << "the init runs from " << exe;
  // Not writable from the host side either.
  int fd = ::open(("/proc/" + std::to_string(init) + "/exe").c_str(), O_WRONLY);
  EXPECT_LT(fd, 0);
  if (fd >= 0) ::close(fd);
  // From inside, with every capability a container could have, /proc/1/exe (the waiting init).
  Outcome w = cryo({"exec", "--cap", "CAP_SYS_PTRACE", "--cap", "CAP_DAC_OVERRIDE", id, "it_helper", "writeexe", "1"});
  EXPECT_EQ(w.code, 0) << w.text();
  EXPECT_EQ(w.out.find("opened"), std::string::npos) << w.text();
  // An exec'd shell that overwrites what its own /proc/self/exe points at writes busybox, not cryo.
  Outcome s = cryo({"exec", id, "sh", "-c", "echo x > /proc/$$/exe"});
  EXPECT_NE(s.code, 0) << s.text();
  EXPECT_EQ(cryo({"delete", "--force", id}).code, 0);
  EXPECT_TRUE(file_bytes(CRYO_BIN) == before) << "the cryo binary changed";
}

TEST_F(RuntimeTest, Cve2024_21626_LeakedFdsDoNotReachTheContainer) {
  int host_dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC: inherited by cryo
  ASSERT_GE(host_dir, 0);
  RunOptions o;
  o.fds = {{7, host_dir}};
  set_args({"sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"});
  Outcome r = cryo({"run", "--bundle", bundle_, new_id()}, o);
  ASSERT_EQ(r.code, 0) << r.text();
  std::istringstream in(r.out);
  int fd;
  while (in >> fd) EXPECT_LE(fd, 3) << r.out;  // 0 1 2 and ls's own directory fd

  // process.cwd through the leaked fd must not put the workload outside the root.
  config_["process"]["cwd"] = "/proc/self/fd/7";
  set_args({"sh", "-c", "pwd; ls"});
  std::string id = new_id();
  Outcome c = cryo({"run", "--bundle", bundle_, id}, o);
  EXPECT_NE(c.code, 0) << c.text();
  EXPECT_EQ(c.out.find("bundle"), std::string::npos) << "the host directory was listed: " << c.text();
  expect_nothing_left(id);

  // exec --cwd likewise.
  config_["process"]["cwd"] = "/";
  std::string running = start_detached({"sleep", "1000"});
  Outcome e = cryo({"exec", "--cwd", "/proc/self/fd/7", running, "ls"}, o);
  EXPECT_NE(e.code, 0) << e.text();
  EXPECT_EQ(e.out.find("bundle"), std::string::npos) << e.text();
  Outcome l = cryo({"exec", running, "ls", "/proc/self/fd"}, o);
  EXPECT_EQ(l.out.find("7"), std::string::npos) << l.text();
  ::close(host_dir);
}

bool eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return pred();
}

// A runtime-spec seccomp agent: accepts the connections on `path` and records, for each, the
// state JSON it got and whether a listener fd came with it.
struct SeccompAgent {
  struct Handover {
    std::string payload;
    bool has_fd = false;
  };
  explicit SeccompAgent(const std::string& path) {
    srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ok = ::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(srv, 4) == 0;
    thread = std::thread([this] {
      for (;;) {
        int conn = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) return;
        char buf[65536];
        char control[CMSG_SPACE(sizeof(int))];
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        Handover h;
        if (n > 0) h.payload.assign(buf, static_cast<size_t>(n));
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
            h.has_fd = true;
            listeners.push_back(fd);  // kept: without it the filtered calls fail with ENOSYS
          }
        std::lock_guard lock(mu);
        got.push_back(h);
        ::close(conn);
      }
    });
  }
  ~SeccompAgent() {
    ::shutdown(srv, SHUT_RDWR);
    ::close(srv);
    thread.join();
    for (int fd : listeners) ::close(fd);
  }
  std::vector<Handover> handovers() {
    std::lock_guard lock(mu);
    return got;
  }
  int srv = -1;
  bool ok = false;
  std::thread thread;
  std::mutex mu;
  std::vector<Handover> got;
  std::vector<int> listeners;
};


// `exec` into a container whose profile notifies a listener hands the new process's listener to
// listenerPath too, as create does for the init (the process must not keep it itself).
TEST_F(RuntimeTest, ExecHandsItsSeccompListenerToTheAgent) {
  std::string sock = dir_ + "/agent.sock";
  SeccompAgent agent(sock);
  ASSERT_TRUE(agent.ok);
  config_["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                 {"listenerPath", sock},
                                 {"listenerMetadata", "it-meta"},
                                 {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  std::string id = start_detached({"sleep", "30"});
  ASSERT_TRUE(eventually([&] { return agent.handovers().size() >= 1; }));
  Outcome r = cryo({"exec", id, "sh", "-c", "ls -l /proc/self/fd | grep -c seccomp || true"});
  ASSERT_EQ(r.code, 0) << r.text();
  EXPECT_EQ(trim(r.out), "0") << "the exec'd process kept its listener";
  ASSERT_TRUE(eventually([&] { return agent.handovers().size() >= 2; }));
  auto h = agent.handovers()[1];
  EXPECT_TRUE(h.has_fd);
  auto j = json::parse(h.payload);
  EXPECT_EQ(j["metadata"], "it-meta");
  EXPECT_EQ(j["state"]["id"], id);
  cryo({"delete", "--force", id});
}

}  // namespace
}  // namespace cryo::it
