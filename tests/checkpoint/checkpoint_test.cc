// cryo checkpoint / restore on real containers: clones resume where the snapshot was taken, with
// the filesystem as it was, side by side; faults leave the original running and thawed.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <cstring>
#include <thread>

#include "base/file.h"
#include "fsimage/fsimage.h"
#include "tests/support/harness.h"

using namespace cryo::testing;

namespace {

const std::string kCryo = CRYO_BIN;
const std::string kRootfs = CRYO_ROOTFS;
const std::string kCounter = COUNTER_BIN;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(exists(kRootfs + "/bin/busybox")) << "run scripts/make-rootfs.sh first";
    copy_tree(kRootfs, dir / "lower");
    run({"/bin/cp", kCounter, dir / "lower/bin/counter"});
    cryo::make_dirs(dir / "upper");
    cryo::make_dirs(dir / "work");
    cryo::make_dirs(dir / "bundle/rootfs");
    overlay = cryo::fsimage::OverlayMount({{dir / "lower"}, dir / "upper", dir / "work"}, dir / "bundle/rootfs");
    std::vector<std::string> args = {"/bin/counter", std::to_string(mib), "/count"};
    args.insert(args.end(), counter_args.begin(), counter_args.end());
    auto cfg = test_config(kCryo, dir / "bundle", args);
    write_text(dir / "bundle/config.json", cfg.dump());
    // stdio /dev/null: an init writing to a file outside its root could not be checkpointed.
    ASSERT_EQ(wait_exit(spawn({kCryo, "--root", dir / "run", "run", "-d", "--bundle", dir / "bundle", "orig"})), 0);
    ASSERT_TRUE(eventually([&] { return read_counter(dir / "upper/count") >= 3; }));
  }

  void TearDown() override {
    for (auto& id : {"orig", "r1", "r2", "r3", "again"}) cryo({"delete", "--force", id});
  }

  Result cryo(std::vector<std::string> args) {
    args.insert(args.begin(), {kCryo, "--root", dir / "run"});
    return run(args);
  }

  // A bundle for a clone: the same config and an empty rootfs dir that restore fills.
  std::string clone_bundle(const std::string& id) {
    std::string b = dir / ("b-" + id);
    cryo::make_dirs(b + "/rootfs");
    write_text(b + "/config.json", read_text(dir / "bundle/config.json"));
    return b;
  }

  int restore(const std::string& id) {
    return wait_exit(spawn({kCryo, "--root", dir / "run", "restore", "-d", "--image-path", dir / "img", "--bundle",
                            clone_bundle(id), id}));
  }

  // `checkpoint --leave-running` of orig into img with one environment variable set; returns the
  // image's cryo metadata (an empty object if the checkpoint failed).
  nlohmann::json checkpoint_with(const std::string& env) {
    auto ck = run({"/usr/bin/env", env, kCryo, "--root", dir / "run", "checkpoint", "--leave-running", "--image-path",
                   dir / "img", "orig"});
    EXPECT_EQ(ck.code, 0) << ck.err;
    if (ck.code != 0) return nlohmann::json::object();
    return nlohmann::json::parse(read_text(dir / "img/cryo-checkpoint.json"));
  }

  std::string rootfs_of(const std::string& id) { return id == "orig" ? dir / "bundle/rootfs" : dir / ("b-" + id + "/rootfs"); }
  long count(const std::string& id) { return read_counter(rootfs_of(id) + "/count"); }
  bool counting(const std::string& id) {
    long before = count(id);
    return eventually([&] { return count(id) > before; }, 3);
  }
  pid_t pid_of(const std::string& id) {
    auto st = nlohmann::json::parse(cryo({"state", id}).out);
    return st["pid"].get<pid_t>();
  }
  std::string status_of(const std::string& id) {
    auto r = cryo({"state", id});
    return r.code == 0 ? nlohmann::json::parse(r.out)["status"].get<std::string>() : "gone";
  }
  std::string freezer_state(const std::string& id) {
    return read_text("/sys/fs/cgroup/freezer/cryo/" + id + "/freezer.state");
  }

  TempDir dir;
  int mib = 16;
  std::vector<std::string> counter_args;  // after MIB and FILE
  cryo::fsimage::OverlayMount overlay;
};

std::string ns_of(pid_t pid, const char* ns) {
  char buf[128];
  ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/ns/" + ns).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

TEST_F(CheckpointTest, ThreeConcurrentClonesResumeFromTheSnapshot) {
  ASSERT_EQ(cryo({"exec", "orig", "sh", "-c", "echo kept > /before; rm /etc/hostname"}).code, 0);
  long at_checkpoint = count("orig");
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  EXPECT_TRUE(counting("orig")) << "the original stopped counting";
  EXPECT_EQ(status_of("orig"), "running");
  ASSERT_EQ(cryo({"exec", "orig", "sh", "-c", "echo late > /after"}).code, 0);

  std::vector<std::future<int>> restores;
  for (auto id : {"r1", "r2", "r3"}) restores.push_back(std::async(std::launch::async, [&, id] { return restore(id); }));
  for (auto& f : restores) ASSERT_EQ(f.get(), 0);
  for (auto id : {"r1", "r2", "r3"}) {
    ASSERT_TRUE(eventually([&] { return count(id) > at_checkpoint; })) << id << " did not resume";
    EXPECT_EQ(status_of(id), "running");
    EXPECT_NE(ns_of(pid_of(id), "pid"), ns_of(pid_of("orig"), "pid")) << id;
    EXPECT_EQ(read_text(rootfs_of(id) + "/before"), "kept\n") << id;
    EXPECT_FALSE(exists(rootfs_of(id) + "/after")) << id << " sees a file made after the snapshot";
    EXPECT_FALSE(exists(rootfs_of(id) + "/etc/hostname")) << id << " sees a file deleted before the snapshot";
    // Restores are lazy: another process reading the init's memory (its argv, for
    // /proc/1/cmdline) can come back empty until the lazy-pages daemon has filled that page.
    std::string cmdline;
    EXPECT_TRUE(eventually([&] {
      cmdline = cryo({"exec", id, "cat", "/proc/1/cmdline"}).out;
      return cmdline.find("/bin/counter") != std::string::npos;
    })) << id << ": " << cmdline;
  }
  EXPECT_NE(ns_of(pid_of("r1"), "pid"), ns_of(pid_of("r2"), "pid"));
  EXPECT_NE(ns_of(pid_of("r2"), "pid"), ns_of(pid_of("r3"), "pid"));

  // Clones are independent: writes stay private, killing one leaves the others.
  ASSERT_EQ(cryo({"exec", "r2", "sh", "-c", "echo mine > /clone-file"}).code, 0);
  for (auto id : {"orig", "r1", "r3"}) EXPECT_FALSE(exists(rootfs_of(id) + "/clone-file")) << id;
  ASSERT_EQ(cryo({"kill", "r1", "KILL"}).code, 0);
  EXPECT_TRUE(eventually([&] { return status_of("r1") == "stopped"; }));
  for (auto id : {"orig", "r2", "r3"}) EXPECT_TRUE(counting(id)) << id;
  // Deleting a clone unmounts its root and removes its cgroup.
  ASSERT_EQ(cryo({"delete", "r1"}).code, 0);
  EXPECT_FALSE(exists("/sys/fs/cgroup/memory/cryo/r1"));
  EXPECT_TRUE(eventually([&] { return !exists(rootfs_of("r1") + "/count"); }));
}

TEST_F(CheckpointTest, MemoryContentSurvivesRestore) {
  // The counter checks its memory pattern on every tick and exits 3 if it changed.
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(status_of("r1"), "running");
  EXPECT_TRUE(counting("r1"));
}

// A workload that keeps rewriting its memory while it is snapshotted: its pages are copied while
// it runs (write tracking), and those written before the freeze copied again. The counter checks
// a running XOR of its pages, so a clone built from pages of different moments exits 3.
class WritingWorkloadTest : public CheckpointTest {
 protected:
  void SetUp() override {
    mib = 64;
    counter_args = {"2000", "64"};  // a tick every 2 ms, 64 pages rewritten per tick
    CheckpointTest::SetUp();
  }
  void expect_clones_consistent() {
    for (auto id : {"r1", "r2"}) ASSERT_EQ(restore(id), 0) << id;
    for (auto id : {"r1", "r2"}) ASSERT_TRUE(eventually([&] { return count(id) > 0; })) << id;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (auto id : {"r1", "r2"}) {
      EXPECT_EQ(status_of(id), "running") << id << " found its memory inconsistent";
      EXPECT_TRUE(counting(id)) << id;
    }
    EXPECT_TRUE(counting("orig"));
  }
};

TEST_F(WritingWorkloadTest, PagesCopiedAheadAndWrittenMeanwhileMakeAConsistentSnapshot) {
  auto meta = checkpoint_with("CRYO_TEST=1");
  ASSERT_TRUE(meta.contains("precopy")) << meta.dump();
  EXPECT_EQ(meta["precopy"]["tasks"], 1);
  EXPECT_GE(meta["precopy"]["pages_ahead"].get<long>(), 64 * 256);  // the whole 64 MiB
  EXPECT_GT(meta["precopy"]["pages_again"].get<long>(), 0);          // it kept writing
  EXPECT_GE(meta["precopy"]["pages_used"].get<long>(), 64 * 256 - 1024);
  expect_clones_consistent();
}

TEST_F(WritingWorkloadTest, WithoutPrecopyCriuCopiesEverythingFrozen) {
  auto meta = checkpoint_with("CRYO_PRECOPY=0");
  EXPECT_FALSE(meta.contains("precopy")) << meta.dump();
  expect_clones_consistent();
}

// Whether a `criu lazy-pages` daemon serving `work_dir` still runs.
static bool lazy_daemon_running(const std::string& work_dir) {
  DIR* d = ::opendir("/proc");
  bool found = false;
  while (struct dirent* e = ::readdir(d)) {
    if (std::atoi(e->d_name) <= 0) continue;
    std::string cmdline = read_text(std::string("/proc/") + e->d_name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("lazy-pages") != std::string::npos && cmdline.find(work_dir + " ") != std::string::npos) found = true;
  }
  ::closedir(d);
  return found;
}

class LazyRestoreTest : public CheckpointTest {
 protected:
  void SetUp() override {
    mib = 64;
    CheckpointTest::SetUp();
  }
};

// Restores are lazy by default: each clone's memory comes from its own lazy-pages daemon, which
// fills all of it and exits; the counter's pattern check proves the content.
TEST_F(LazyRestoreTest, ThreeConcurrentLazyClonesGetTheirMemory) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  long at_checkpoint = count("orig");
  std::vector<std::future<int>> restores;
  for (auto id : {"r1", "r2", "r3"}) restores.push_back(std::async(std::launch::async, [&, id] { return restore(id); }));
  for (auto& f : restores) ASSERT_EQ(f.get(), 0);
  for (auto id : {"r1", "r2", "r3"}) {
    EXPECT_TRUE(exists(dir / ("run/" + std::string(id) + "/lazy-pages.log"))) << id << " was not restored lazily";
    ASSERT_TRUE(eventually([&] { return count(id) > at_checkpoint; })) << id << " did not resume";
  }
  for (auto id : {"r1", "r2", "r3"}) {
    // The daemon exits once every page is in; the clone keeps running with intact memory.
    EXPECT_TRUE(eventually([&] { return !lazy_daemon_running(dir / ("run/" + std::string(id))); }, 20)) << id;
    EXPECT_TRUE(counting(id)) << id;
    EXPECT_EQ(status_of(id), "running") << id;
  }
}

TEST_F(LazyRestoreTest, EagerRestoreWhenTurnedOff) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  auto r = run({"/usr/bin/env", "CRYO_LAZY_RESTORE=0", kCryo, "--root", dir / "run", "restore", "-d", "--image-path",
                dir / "img", "--bundle", clone_bundle("r1"), "r1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(exists(dir / "run/r1/lazy-pages.log"));
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  EXPECT_TRUE(counting("r1"));
}

// By default pages stream over a socketpair to cryo's own page server, which writes CRIU's
// pagemap/pages images itself after the thaw; they must restore like CRIU's own.
TEST_F(CheckpointTest, DumpThroughOurPageServerRestores) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  EXPECT_NE(read_text(dir / "img/dump.log").find("page server"), std::string::npos);
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  EXPECT_TRUE(counting("r1"));
  EXPECT_EQ(status_of("r1"), "running");
}

// CRYO_DUMP_PAGE_SERVER=0: CRIU writes its page images itself.
TEST_F(CheckpointTest, PlainDumpWhenOurPageServerIsOff) {
  auto ck = run({"/usr/bin/env", "CRYO_DUMP_PAGE_SERVER=0", kCryo, "--root", dir / "run", "checkpoint",
                 "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  EXPECT_EQ(read_text(dir / "img/dump.log").find("page server"), std::string::npos);
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  EXPECT_TRUE(counting("r1"));
}

// The sandbox's own network namespace (loopback only) stays out of the image; each clone gets a
// fresh one.
TEST_F(CheckpointTest, FreshNetworkNamespaceForEachClone) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  auto meta = nlohmann::json::parse(read_text(dir / "img/cryo-checkpoint.json"));
  EXPECT_TRUE(meta.contains("netns")) << meta.dump();
  EXPECT_TRUE(meta["netns"].value("outside_images", false)) << meta.dump();
  // criu ran inside the namespace: CRIU did not dump it at all (no netns image, no conntrack walk).
  for (auto& e : std::filesystem::directory_iterator(dir / "img"))
    EXPECT_NE(e.path().filename().string().rfind("netns-", 0), 0u) << e.path();
  EXPECT_EQ(read_text(dir / "img/dump.log").find("Dump NET namespace"), std::string::npos);
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_EQ(restore("r2"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0 && count("r2") > 0; }));
  EXPECT_NE(ns_of(pid_of("r1"), "net"), ns_of(pid_of("orig"), "net"));
  EXPECT_NE(ns_of(pid_of("r1"), "net"), ns_of(pid_of("r2"), "net"));
  EXPECT_NE(ns_of(pid_of("r1"), "net"), ns_of(::getpid(), "net"));
  auto links = cryo({"exec", "r1", "cat", "/proc/net/dev"});
  EXPECT_NE(links.out.find("lo:"), std::string::npos) << links.out << links.err;
  // The loopback is up or down as it was.
  auto lo_was = cryo({"exec", "orig", "cat", "/sys/class/net/lo/flags"});
  auto lo = cryo({"exec", "r1", "cat", "/sys/class/net/lo/flags"});
  ASSERT_FALSE(lo_was.out.empty()) << lo_was.err;
  ASSERT_FALSE(lo.out.empty()) << lo.err;
  EXPECT_EQ(std::stoul(lo.out, nullptr, 16) & 1, std::stoul(lo_was.out, nullptr, 16) & 1) << lo.out << lo_was.out;
}

// Images of cryo before criu ran inside the namespace declared it external to CRIU; they still
// restore (CRYO_CRIU_IN_NETNS=0 makes such an image).
TEST_F(CheckpointTest, ExternalNetworkNamespaceImagesStillRestore) {
  auto meta = checkpoint_with("CRYO_CRIU_IN_NETNS=0");
  EXPECT_FALSE(meta["netns"].value("outside_images", true)) << meta.dump();
  EXPECT_NE(read_text(dir / "img/dump.log").find("Dump NET namespace"), std::string::npos);
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  EXPECT_TRUE(counting("r1"));
  EXPECT_NE(ns_of(pid_of("r1"), "net"), ns_of(pid_of("orig"), "net"));
  EXPECT_NE(ns_of(pid_of("r1"), "net"), ns_of(::getpid(), "net"));
}

// cryo freezes the container itself in CRIU's pre-dump step (CRIU would poll a FREEZING v1
// freezer only every 100 ms): CRIU finds it frozen already. It runs on after the dump.
TEST_F(CheckpointTest, CryoFreezesBeforeCriuAndThawsAfter) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  std::string log = read_text(dir / "img/dump.log");
  auto first = log.find("freezer.state=");
  ASSERT_NE(first, std::string::npos) << "CRIU did not use the freezer";
  EXPECT_EQ(log.compare(first, 20, "freezer.state=FROZEN"), 0) << log.substr(first, 40);
  EXPECT_EQ(freezer_state("orig").rfind("THAWED", 0), 0u) << freezer_state("orig");
  EXPECT_TRUE(counting("orig"));
}

// cryo keeps CRIU's kernel-probe cache (CRIU keeps none where /run is not a tmpfs, and its probes
// fail inside a network namespace with loopback down). The bind that shows it to criu never
// reaches our mount table.
TEST_F(CheckpointTest, CriuLoadsTheKernelProbeCache) {
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  EXPECT_NE(read_text(dir / "img/dump.log").find("Loaded kdat cache from /run/criu.kdat"), std::string::npos);
  EXPECT_EQ(read_text("/proc/self/mountinfo").find("criu.kdat"), std::string::npos);
}

// Without the cache criu cannot start inside the namespace: the checkpoint declares the namespace
// external instead, and a restore of an image that needs it says why it cannot.
TEST_F(CheckpointTest, WithoutTheProbeCacheTheNamespaceIsDeclaredExternal) {
  auto meta = checkpoint_with("CRYO_CRIU_KDAT_CACHE=0");
  EXPECT_FALSE(meta["netns"].value("outside_images", true)) << meta.dump();
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));

  auto ck2 = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img2", "orig"});
  ASSERT_EQ(ck2.code, 0) << ck2.err;
  auto rs = run({"/usr/bin/env", "CRYO_CRIU_KDAT_CACHE=0", kCryo, "--root", dir / "run", "restore", "-d",
                 "--image-path", dir / "img2", "--bundle", clone_bundle("r2"), "r2"});
  EXPECT_NE(rs.code, 0);
  EXPECT_NE(rs.err.find("kernel-probe cache"), std::string::npos) << rs.err;
  EXPECT_EQ(status_of("r2"), "gone");
  EXPECT_TRUE(counting("orig"));
}

TEST_F(CheckpointTest, WithoutLeaveRunningStopsThenRestoresUnderTheSameId) {
  long before = count("orig");
  auto ck = cryo({"checkpoint", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  EXPECT_EQ(status_of("orig"), "gone");
  long after_stop = count("orig");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(count("orig"), after_stop) << "the checkpointed container still runs";
  // Back on its own root (not empty): runc's in-place restore.
  ASSERT_EQ(wait_exit(spawn({kCryo, "--root", dir / "run", "restore", "-d", "--image-path", dir / "img", "--bundle",
                             dir / "bundle", "orig"})),
            0);
  EXPECT_EQ(status_of("orig"), "running");
  EXPECT_TRUE(eventually([&] { return count("orig") > after_stop; }));
  EXPECT_GE(count("orig"), before);
}

TEST_F(CheckpointTest, BadOptionFailsBeforeFreezing) {
  auto ck = cryo({"checkpoint", "--leave-running", "--manage-cgroups-mode", "bogus", "--image-path", dir / "img", "orig"});
  EXPECT_NE(ck.code, 0);
  EXPECT_NE(ck.err.find("--manage-cgroups-mode"), std::string::npos) << ck.err;
  EXPECT_EQ(status_of("orig"), "running");
  EXPECT_TRUE(counting("orig"));
  EXPECT_FALSE(exists(dir / "img/cryo-checkpoint.json"));
}

// A seccomp listener lives outside the container and CRIU cannot carry it over: refused before
// anything is frozen, and the container runs on.
TEST(CheckpointRefusal, SeccompUserNotificationIsRefusedBeforeFreezing) {
  TempDir dir;
  copy_tree(kRootfs, dir / "bundle/rootfs");
  run({"/bin/cp", kCounter, dir / "bundle/rootfs/bin/counter"});
  auto cfg = test_config(kCryo, dir / "bundle", {"/bin/counter", "1", "/count"});
  std::string listener_path = dir / "listener.sock";
  cfg["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"listenerPath", listener_path},
                             {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  write_text(dir / "bundle/config.json", cfg.dump());
  // The listener: accept the container's notify fd and keep it while the test runs.
  int srv = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, listener_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(srv, 1), 0);
  std::thread accepter([srv] {
    int conn = ::accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    char buf[65536];
    if (conn >= 0) (void)!::read(conn, buf, sizeof buf);  // held open until the socket closes
  });
  auto cryo = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kCryo, "--root", dir / "run"});
    return run(args);
  };
  ASSERT_EQ(wait_exit(spawn({kCryo, "--root", dir / "run", "run", "-d", "--bundle", dir / "bundle", "n1"})), 0);
  ASSERT_TRUE(eventually([&] { return read_counter(dir / "bundle/rootfs/count") > 2; }));
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "n1"});
  EXPECT_NE(ck.code, 0);
  EXPECT_NE(ck.err.find("user-notification listener"), std::string::npos) << ck.err;
  EXPECT_FALSE(exists(dir / "img/cryo-checkpoint.json"));
  long before = read_counter(dir / "bundle/rootfs/count");
  EXPECT_TRUE(eventually([&] { return read_counter(dir / "bundle/rootfs/count") > before; }, 3));
  cryo({"delete", "--force", "n1"});
  ::shutdown(srv, SHUT_RDWR);
  ::close(srv);
  accepter.detach();
}

TEST_F(CheckpointTest, MissingCriuBinaryIsAClearError) {
  auto r = run({kCryo, "--root", dir / "run", "--criu", "/nonexistent/criu", "checkpoint", "--leave-running",
                "--image-path", dir / "img", "orig"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/nonexistent/criu"), std::string::npos) << r.err;
  EXPECT_EQ(status_of("orig"), "running");
  EXPECT_TRUE(counting("orig"));
  EXPECT_FALSE(exists(dir / "img"));
}

TEST_F(CheckpointTest, RestoreRefusesAnIncompleteImage) {
  cryo::make_dirs(dir / "img");
  auto r = cryo({"restore", "-d", "--image-path", dir / "img", "--bundle", clone_bundle("r1"), "r1"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("not a complete cryo checkpoint"), std::string::npos) << r.err;
  EXPECT_EQ(status_of("r1"), "gone");
  EXPECT_FALSE(exists("/sys/fs/cgroup/memory/cryo/r1"));
}

// A restore into a bundle whose config has no mount namespace (and nothing that would need one)
// is refused before anything is mounted or created: cryo restores into a mount namespace of the
// container's own.
TEST_F(CheckpointTest, RestoreRefusesABundleWithoutAMountNamespace) {
  checkpoint_with("CRYO_TEST=1");
  std::string b = clone_bundle("r1");
  auto cfg = nlohmann::json::parse(read_text(b + "/config.json"));
  auto& nss = cfg["linux"]["namespaces"];
  for (auto it = nss.begin(); it != nss.end();) it = (*it)["type"] == "mount" ? nss.erase(it) : it + 1;
  cfg.erase("mounts");
  cfg["linux"].erase("maskedPaths");
  cfg["linux"].erase("readonlyPaths");
  write_text(b + "/config.json", cfg.dump());
  auto r = cryo({"restore", "-d", "--image-path", dir / "img", "--bundle", b, "r1"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("linux.namespaces has no \"mount\""), std::string::npos) << r.err;
  EXPECT_EQ(status_of("r1"), "gone");
  EXPECT_TRUE(std::filesystem::is_empty(b + "/rootfs")) << "nothing may be mounted on the root";
  EXPECT_TRUE(counting("orig"));
}

// Kills `victim` ("criu" or "cryo") while a checkpoint of a large container is under way.
class CheckpointKillTest : public CheckpointTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    mib = 256;
    CheckpointTest::SetUp();
  }
};

static std::vector<pid_t> children_named(pid_t parent, const std::string& name) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  while (struct dirent* e = ::readdir(d)) {
    pid_t p = std::atoi(e->d_name);
    if (p <= 0) continue;
    std::string stat = read_text("/proc/" + std::to_string(p) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::string comm = stat.substr(stat.find('(') + 1, close - stat.find('(') - 1);
    int ppid = std::atoi(stat.c_str() + close + 4);  // ") S <ppid> ..."
    if (comm == name && (parent == 0 || ppid == parent)) out.push_back(p);
  }
  ::closedir(d);
  return out;
}

static std::string cpus_allowed(pid_t pid) {
  std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("Cpus_allowed_list:");
  return at == std::string::npos ? "" : status.substr(at, status.find('\n', at) - at);
}

TEST_P(CheckpointKillTest, ContainerEndsUpThawedAndRunning) {
  std::string victim = GetParam();
  std::string cpus_before = cpus_allowed(pid_of("orig"));
  pid_t cryo_pid = spawn({kCryo, "--root", dir / "run", "checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_GT(cryo_pid, 0);
  // Wait for the dump itself (its log appears; earlier criu runs only probe), then kill.
  std::vector<pid_t> criu;
  ASSERT_TRUE(eventually([&] {
    return exists(dir / "img/dump.log") && !(criu = children_named(cryo_pid, "criu")).empty();
  }, 10));
  ::kill(victim == "criu" ? criu[0] : cryo_pid, SIGKILL);
  int code = wait_exit(cryo_pid);
  if (victim == "criu") {
    EXPECT_NE(code, 0);
  }
  // The next command recovers anything left frozen.
  EXPECT_TRUE(eventually([&] { return status_of("orig") == "running"; }, 10)) << status_of("orig");
  EXPECT_TRUE(eventually([&] { return freezer_state("orig").rfind("THAWED", 0) == 0; }, 10)) << freezer_state("orig");
  EXPECT_TRUE(counting("orig"));
  // The CPU mask the dump may have narrowed is the container's own again.
  EXPECT_EQ(cpus_allowed(pid_of("orig")), cpus_before);
  if (victim == "criu") {
    EXPECT_FALSE(exists(dir / "img/cryo-checkpoint.json"));
  }
  // Nothing half-done blocks the next checkpoint.
  auto again = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img2", "orig"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(counting("orig"));
}

INSTANTIATE_TEST_SUITE_P(Victims, CheckpointKillTest, ::testing::Values("criu", "cryo"));

// cryo killed at any moment of a checkpoint of a container that keeps writing its memory: while
// it copies memory ahead, while frozen, while writing images. Each time the container runs on,
// thawed, with its own CPU mask, no write tracking left behind and its memory intact.
class CheckpointKillAnywhereTest : public CheckpointTest {
 protected:
  void SetUp() override {
    mib = 128;
    counter_args = {"2000", "64"};
    CheckpointTest::SetUp();
  }
};

static bool write_tracking_left(pid_t pid) {
  std::string smaps = read_text("/proc/" + std::to_string(pid) + "/smaps");
  for (size_t at = smaps.find("VmFlags:"); at != std::string::npos; at = smaps.find("VmFlags:", at + 1)) {
    std::string flags = smaps.substr(at, smaps.find('\n', at) - at);
    if (flags.find(" uw") != std::string::npos) return true;
  }
  return false;
}

TEST_F(CheckpointKillAnywhereTest, ContainerRunsOnIntactWhereverCryoDies) {
  pid_t init = pid_of("orig");
  std::string cpus_before = cpus_allowed(init);
  int round = 0;
  for (int delay_ms : {10, 40, 70, 100, 130, 160, 190, 220, 300}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    pid_t cryo_pid = spawn({kCryo, "--root", dir / "run", "checkpoint", "--leave-running", "--image-path",
                            dir / ("img-" + std::to_string(round++)), "orig"});
    ASSERT_GT(cryo_pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(cryo_pid, SIGKILL);
    wait_exit(cryo_pid);
    // The next command recovers whatever was left.
    EXPECT_TRUE(eventually([&] { return status_of("orig") == "running"; }, 10)) << status_of("orig");
    EXPECT_TRUE(eventually([&] { return freezer_state("orig").rfind("THAWED", 0) == 0; }, 10));
    EXPECT_EQ(cpus_allowed(init), cpus_before);
    EXPECT_TRUE(eventually([&] { return !write_tracking_left(init); }, 10));
    EXPECT_TRUE(counting("orig"));  // the counter exits 3 if its memory were inconsistent
    ASSERT_EQ(pid_of("orig"), init);
  }
  // And a checkpoint after all that works and restores.
  auto ck = cryo({"checkpoint", "--leave-running", "--image-path", dir / "img", "orig"});
  ASSERT_EQ(ck.code, 0) << ck.err;
  ASSERT_EQ(restore("r1"), 0);
  ASSERT_TRUE(eventually([&] { return count("r1") > 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(status_of("r1"), "running");
}
