// Resource abuse from inside a sandbox stays inside it: pids, memory, CPU, open files, disk, and a
// flood of API requests against cryod itself.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <filesystem>
#include <sstream>
#include <thread>

#include "base/file.h"
#include "tests/security/cryod_fixture.h"

namespace cryo::sec {
namespace {

using Resources = CryodTest;
using namespace std::chrono_literals;

int64_t stat_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}

TEST_F(Resources, ForkBombIsHeldByThePidsLimit) {
  std::string id = create({{"pids", 64}});
  arm(id);
  auto before = inventory();
  auto r = sh(id, "/tmp/attack forkbomb 3", 60);
  auto p = parse_probes(r["stdout"]);
  ASSERT_TRUE(p.count("forkbomb")) << r.dump();
  std::istringstream f(p["forkbomb"]);
  int max = 0;
  std::string err;
  f >> max >> err;
  EXPECT_LT(max, 64) << r.dump();
  EXPECT_EQ(err, "EAGAIN") << r.dump();
  EXPECT_EQ(read_text(cgroup_dir("pids", id) + "/pids.max"), "64\n");
  // The sandbox, its sentry and cryod are fine; the bomb's children are gone.
  EXPECT_EQ(sh(id, "echo alive")["stdout"], "alive\n");
  EXPECT_TRUE(pid_alive(sentry_pid(id)));
  EXPECT_EQ(client().get("/v1/health").value("status", ""), "ok");
  EXPECT_EQ(settle(before, 10), "");
}

TEST_F(Resources, MemoryBombKillsOnlyTheBomb) {
  std::string id = create({{"memory_mb", 64}});
  arm(id);
  pid_t sentry = sentry_pid(id), init = init_pid(id);
  auto r = sh(id, "/tmp/attack membomb 512", 60);
  EXPECT_EQ(r["stdout"].get<std::string>().find("survived"), std::string::npos) << r.dump();
  EXPECT_EQ(r["exit_code"], 128 + 9) << r.dump();
  std::string oom = read_text(cgroup_dir("memory", id) + "/memory.oom_control");
  EXPECT_GE(stat_field(oom, "oom_kill"), 1) << oom;
  EXPECT_TRUE(pid_alive(sentry));
  EXPECT_TRUE(pid_alive(init));
  EXPECT_TRUE(pid_alive(cryod_->pid()));
  EXPECT_EQ(sh(id, "echo alive")["stdout"], "alive\n");
}

TEST_F(Resources, CpuSpinIsThrottledToTheQuota) {
  std::string id = create({{"cpus", 0.2}});
  arm(id);
  std::string cpu = cgroup_dir("cpu", id);
  EXPECT_EQ(read_text(cpu + "/cpu.cfs_quota_us"), "20000\n");
  std::string acct = cgroup_dir("cpuacct", id) + "/cpuacct.usage";
  int64_t used0 = std::stoll(read_text(acct));
  auto t0 = std::chrono::steady_clock::now();
  // Two spinners: without the quota they would take both cores.
  auto r = sh(id, "/tmp/attack spin 2 & /tmp/attack spin 2; wait", 60);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t used = std::stoll(read_text(acct)) - used0;
  std::string st = read_text(cpu + "/cpu.stat");
  std::printf("cpu used %.2f s over %.2f s wall; %s", used / 1e9, wall, st.c_str());
  EXPECT_GT(stat_field(st, "nr_throttled"), 0) << st;
  EXPECT_GT(stat_field(st, "throttled_time"), 0) << st;
  EXPECT_LT(used / 1e9, 0.35 * wall) << "at most ~0.2 CPUs (plus a margin)";
}

TEST_F(Resources, OpenFilesAreLimitedInTheSandbox) {
  std::string id = create();
  arm(id);
  auto r = sh(id, "/tmp/attack nofile; ulimit -n");
  auto p = parse_probes(r["stdout"]);
  std::istringstream f(p["nofile"]);
  int count = 0;
  std::string err;
  f >> count >> err;
  EXPECT_EQ(err, "EMFILE") << r.dump();
  EXPECT_LE(count, 4096) << r.dump();
  EXPECT_NE(r["stdout"].get<std::string>().find("\n4096\n"), std::string::npos) << r.dump();
  EXPECT_EQ(sh(id, "echo alive")["stdout"], "alive\n");
}

// The tmpfs mounted on `path` according to mountinfo: its options ("rw,size=…"), or "" if none.
std::string tmpfs_options(const std::string& path) {
  std::istringstream in(read_text("/proc/self/mountinfo"));
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point, opts, dash, type, source, super;
    f >> id >> parent >> dev >> root >> point >> opts;
    while (f >> dash && dash != "-") {
    }
    f >> type >> source >> super;
    if (point == path) found = type == "tmpfs" ? super : "";
  }
  return found;
}

// The writable layer is a tmpfs of the sandbox's disk size: a fill stops with ENOSPC at the
// limit, the host disk under the state dir does not take the fill, and the kill leaves no mount.
TEST_F(Resources, DiskFillStopsAtTheLayerSizeAndLeavesNothing) {
  auto before = inventory();
  std::string id = create({{"disk_mb", 32}});
  EXPECT_EQ(client().get("/v1/sandboxes/" + id).value("disk_mb", 0), 32);
  std::string layer = sandbox_dir(id) + "/layer";
  std::string opts = tmpfs_options(layer);
  EXPECT_NE(opts.find("size=32768k"), std::string::npos) << "`" << opts << "`";
  arm(id);
  int64_t host_before = inventory().state_bytes;
  auto r = sh(id, "/tmp/attack fill /tmp/fill 64", 120);
  std::istringstream fill(parse_probes(r["stdout"])["fill"]);
  int written = -1;
  std::string err;
  fill >> written >> err;
  EXPECT_EQ(err, "ENOSPC") << r.dump();
  EXPECT_GE(written, 28) << r.dump();
  EXPECT_LE(written, 32) << r.dump();
  EXPECT_NE(sh(id, "echo more > /tmp/more 2>&1; echo $?")["stdout"], "0\n") << "the layer is full";
  // What the sandbox wrote lives in its layer (memory), not in files on the host disk.
  EXPECT_LT(inventory().state_bytes - host_before, 1 << 20);
  struct stat st;
  ASSERT_EQ(::stat((layer + "/upper/tmp/fill").c_str(), &st), 0);
  EXPECT_LE(st.st_size, 32 << 20);
  // Freeing space in the sandbox makes it usable again.
  EXPECT_EQ(sh(id, "rm /tmp/fill && echo ok > /tmp/after && cat /tmp/after")["stdout"], "ok\n");
  kill_sandbox(id);
  EXPECT_EQ(tmpfs_options(layer), "");
  EXPECT_EQ(settle(before, 10), "");
}

// 2,000 requests from 16 threads: health, reads, commands, bad requests, unknown ids. Every reply is
// the right one, and cryod answers quickly afterwards with no fds left over.
TEST_F(Resources, ApiFloodIsAnsweredCorrectly) {
  client().get("/v1/health");
  auto before = inventory();
  std::string id = create();
  put(id, "/workspace/x", "payload");
  constexpr int kThreads = 16, kPerThread = 125;
  std::atomic<int> wrong{0}, done{0};
  std::mutex mu;
  std::string first_error;
  auto fail = [&](const std::string& what) {
    ++wrong;
    std::lock_guard l(mu);
    if (first_error.empty()) first_error = what;
  };
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto c = client();
      for (int i = 0; i < kPerThread; ++i) {
        int k = (t * kPerThread + i) % 8;
        try {
          switch (k) {
            case 0:
            case 1:
              if (c.get("/v1/health").value("status", "") != "ok") fail("health");
              break;
            case 2:
              if (c.get("/v1/sandboxes/" + id).value("state", "") != "running") fail("get sandbox");
              break;
            case 3: {
              std::string n = std::to_string(t * 1000 + i);
              auto r = c.post("/v1/sandboxes/" + id + "/commands", {{"cmd", "echo " + n}});
              if (r.value("stdout", "") != n + "\n") fail("command: " + r.dump());
              break;
            }
            case 4:
              if (c.get_bytes("/v1/sandboxes/" + id + "/files?path=/workspace/x") != "payload") fail("read file");
              break;
            case 5:
              try {
                c.post("/v1/sandboxes", {{"cpus", "lots"}});
                fail("bad request accepted");
              } catch (const service::ApiError& e) {
                if (e.status() != 400) fail("bad request: " + std::to_string(e.status()));
              }
              break;
            case 6:
              try {
                c.get("/v1/sandboxes/sbx-0000000000000000");
                fail("unknown sandbox found");
              } catch (const service::ApiError& e) {
                if (e.status() != 404) fail("unknown sandbox: " + std::to_string(e.status()));
              }
              break;
            case 7:
              c.get("/v1/sandboxes?all=true");
              break;
          }
        } catch (const std::exception& e) {
          fail(e.what());
        }
        ++done;
      }
    });
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d requests in %.1f s (%.0f/s), %d wrong\n", done.load(), secs, done / secs, wrong.load());
  RecordProperty("flood_requests", done.load());
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(wrong.load(), 0) << first_error;
  auto h0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client().get("/v1/health").value("status", ""), "ok");
  EXPECT_LT(std::chrono::steady_clock::now() - h0, 1s);
  kill_sandbox(id);
  EXPECT_EQ(settle(before, 10), "");
}

}  // namespace
}  // namespace cryo::sec
