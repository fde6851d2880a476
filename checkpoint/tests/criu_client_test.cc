// CriuClient against fake criu scripts (any user) and the real CRIU (root only).
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "base/file.h"
#include "checkpoint/criu.h"

namespace cryo::checkpoint {
namespace {

using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cryo-checkpoint-test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  UniqueFd open() const { return open_or_throw(path_, O_RDONLY | O_DIRECTORY | O_CLOEXEC); }

 private:
  std::string path_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CriuError& e) {
    return e.what();
  }
  return "";
}

// ---- fake criu binaries: process handling without CRIU ----

std::string write_script(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir / name;
  write_file_atomic(path, "#!/bin/sh\n" + body, 0755);
  return path;
}

TEST(CriuClientFake, NonexistentBinaryGivesClearError) {
  CriuClient client(CriuConfig{"/nonexistent/criu"});
  std::string e = error_of([&] { client.version(); });
  EXPECT_NE(e.find("criu version"), std::string::npos) << e;
  EXPECT_NE(e.find("/nonexistent/criu"), std::string::npos) << e;
  EXPECT_NE(e.find("ENOENT"), std::string::npos) << e;
}

TEST(CriuClientFake, NameNotOnPathGivesClearError) {
  EXPECT_THROW(CriuClient(CriuConfig{"no-such-criu-binary-here"}), CriuError);
}

TEST(CriuClientFake, CriuExitingWithoutAnswerIsReported) {
  TempDir dir;
  std::string bin = write_script(dir, "criu", "echo 'fake criu giving up' >&2\nexit 3\n");
  CriuClient client(CriuConfig{bin});
  std::string e = error_of([&] { client.version(); });
  EXPECT_NE(e.find("exited with status 3 before answering"), std::string::npos) << e;
  EXPECT_NE(e.find("fake criu giving up"), std::string::npos) << e;  // captured stderr is quoted
}

TEST(CriuClientFake, TimeoutKillsCriu) {
  TempDir dir;
  std::string bin = write_script(dir, "criu", "exec sleep 30\n");
  CriuConfig cfg{bin};
  cfg.timeout = 300ms;
  CriuClient client(cfg);
  auto t0 = std::chrono::steady_clock::now();
  std::string e = error_of([&] { client.version(); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_NE(e.find("no answer from criu within 300 ms"), std::string::npos) << e;
}

// Only the swrk socket and the inherit fds may reach criu, however the caller opened its fds.
TEST(CriuClientFake, OnlyIntendedDescriptorsReachCriu) {
  TempDir dir;
  std::string out = dir / "fds";
  std::string bin =
      write_script(dir, "criu", "echo \"$@\" > '" + out + ".args'\nexec ls /proc/self/fd > '" + out + "'\n");
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 0);
  ASSERT_EQ(::dup2(leaked, 100), 100);
  ::close(leaked);
  int inherited = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(::dup3(inherited, 101, O_CLOEXEC), 101);
  ::close(inherited);

  CriuClient client(CriuConfig{bin});
  TempDir images;
  UniqueFd images_fd = images.open();
  RestoreOptions o;
  o.images_dir_fd = images_fd.get();
  o.inherit_fds = {{"file[1:2]", 101}};
  std::string e = error_of([&] { client.restore(o); });
  EXPECT_NE(e.find("exited with status 0 before answering"), std::string::npos) << e;
  ::close(100);
  ::close(101);

  std::set<std::string> fds;
  std::istringstream in(read_file(out));
  for (std::string fd; in >> fd;) fds.insert(fd);
  std::string args = read_file(out + ".args");
  ASSERT_EQ(args.rfind("swrk ", 0), 0u) << args;
  std::string sock = args.substr(5, args.find('\n') - 5);
  EXPECT_TRUE(fds.count(sock)) << "swrk fd " << sock << " missing";
  EXPECT_TRUE(fds.count("101")) << "inherit fd missing";
  EXPECT_FALSE(fds.count("100")) << "a non-CLOEXEC fd of ours leaked into criu";
  // 0-2, the socket, fd 101 and ls's own directory fd: nothing else.
  EXPECT_LE(fds.size(), 6u) << read_file(out);
}

// A fake criu in Python speaking the wire protocol by hand: it sends an orphan-pts-master NOTIFY
// carrying an fd (SCM_RIGHTS), records our reply, then answers RESTORE with a 100 KB message (more
// than any fixed buffer would hold).
const char* kFakeNotifyingCriu = R"PY(#!/usr/bin/python3
import os, socket, sys
sk = socket.socket(fileno=int(sys.argv[2]))
out = os.environ["FAKE_CRIU_OUT"]
req = sk.recv(65536)
def varint(n):
    b = b""
    while True:
        if n < 0x80: return b + bytes([n])
        b += bytes([(n & 0x7f) | 0x80]); n >>= 7
def field(num, data): return varint(num << 3 | 2) + varint(len(data)) + data
r, w = os.pipe()
os.write(w, b"from criu")
os.close(w)
notify = b"\x08\x06\x10\x01" + field(5, field(1, b"orphan-pts-master"))
socket.send_fds(sk, [notify], [r])
reply = sk.recv(65536)
open(out, "wb").write(reply)
final = b"\x08\x02\x10\x01" + field(4, b"\x08" + varint(4242)) + field(9, b"x" * 100000)
sk.send(final)
)PY";

TEST(CriuClientFake, NotifyFdIsHandedOverAndRepliedTo) {
  if (!path_exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
  TempDir dir;
  std::string bin = dir / "criu";
  write_file_atomic(bin, kFakeNotifyingCriu, 0755);
  ::setenv("FAKE_CRIU_OUT", (dir / "reply").c_str(), 1);
  CriuClient client(CriuConfig{bin});
  TempDir images;
  UniqueFd images_fd = images.open();
  RestoreOptions o;
  o.images_dir_fd = images_fd.get();
  o.orphan_pts_master = true;
  std::string got_script, got_data;
  pid_t pid = client.restore(o, [&](Notify& n) {
    got_script = n.script;
    EXPECT_EQ(n.request, "restore");
    EXPECT_GT(n.criu_pid, 0);
    ASSERT_TRUE(n.fd.valid());
    UniqueFd kept = std::move(n.fd);  // the handler may keep it
    EXPECT_TRUE(::fcntl(kept.get(), F_GETFD) & FD_CLOEXEC);
    got_data = read_fd(kept.get());
  });
  ::unsetenv("FAKE_CRIU_OUT");
  EXPECT_EQ(pid, 4242);
  EXPECT_EQ(got_script, "orphan-pts-master");
  EXPECT_EQ(got_data, "from criu");
  // criu_req{type: NOTIFY, notify_success: true}
  EXPECT_EQ(read_file(dir / "reply"), std::string("\x08\x06\x18\x01", 4));
}

// ---- the real CRIU (root) ----

bool criu_usable() {
  if (::geteuid() != 0) return false;
  try {
    find_criu_binary();
    return true;
  } catch (const Error&) {
    return false;
  }
}

#define REQUIRE_CRIU() \
  if (!criu_usable()) GTEST_SKIP() << "needs root and criu"

// A process tree CRIU can dump: its own session, stdio on /dev/null, no fds but the counter file,
// into which it writes an incrementing in-memory counter (fixed width, so the file size, which CRIU
// checks on restore, never changes).
class Counter {
 public:
  explicit Counter(std::string file) : file_(std::move(file)) {
    write_value(0);
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork counter");
    if (pid_ == 0) run();
  }
  ~Counter() { stop(); }

  pid_t pid() const { return pid_; }
  uint64_t value() const {
    std::string s = read_file(file_);
    return s.empty() ? 0 : std::strtoull(s.c_str(), nullptr, 10);
  }
  void write_value(uint64_t v) const { write_padded(file_, v); }
  bool wait_for_value(uint64_t at_least, std::chrono::milliseconds limit = 10s) const {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (value() >= at_least) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // The restored copy (rst_sibling made it our child) is stopped by the same object.
  void adopt(pid_t pid) { pid_ = pid; }

 private:
  static void write_padded(const std::string& file, uint64_t v) {
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%020llu\n", static_cast<unsigned long long>(v));
    UniqueFd fd = open_or_throw(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (::pwrite(fd.get(), buf, n, 0) != n) throw_errno("write counter");
  }

  [[noreturn]] void run() {
    ::setsid();  // CRIU cannot dump a tree whose session leader is outside it
    int null = ::open("/dev/null", O_RDWR);
    int out = ::open(file_.c_str(), O_WRONLY);
    if (null < 0 || out < 0) ::_exit(1);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::dup2(out, 3);
    ::close_range(4, ~0U, 0);
    volatile uint64_t counter = 0;  // lives in memory: a restore from 0 would show
    char buf[32];
    for (;;) {
      counter = counter + 1;
      int n = std::snprintf(buf, sizeof buf, "%020llu\n", static_cast<unsigned long long>(counter));
      if (::pwrite(3, buf, n, 0) != n) ::_exit(2);
      ::usleep(1000);
    }
  }

  std::string file_;
  pid_t pid_ = -1;
};

char proc_state(pid_t pid) {
  std::optional<std::string> stat = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return '?';
  size_t paren = stat->rfind(')');
  return paren + 2 < stat->size() ? (*stat)[paren + 2] : '?';
}

TEST(CriuClientReal, VersionIsAtLeast42) {
  REQUIRE_CRIU();
  CriuClient client;
  CriuVersion v = client.version();
  std::printf("criu %s at %s (gitid '%s')\n", v.str().c_str(), client.binary().c_str(),
              v.gitid.c_str());
  EXPECT_TRUE(v.at_least(4, 2)) << v.str();
}

TEST(CriuClientReal, FeatureCheckAndProbe) {
  REQUIRE_CRIU();
  CriuClient client;
  CriuFeatures f = client.feature_check();
  std::printf("mem_track=%d lazy_pages=%d pidfd_store=%d\n", f.mem_track, f.lazy_pages,
              f.pidfd_store);
  CriuCapabilities caps = probe_capabilities(client);
  EXPECT_EQ(caps.features.mem_track, f.mem_track);
  EXPECT_TRUE(caps.version.at_least(4, 2));
  DumpOptions plain;
  EXPECT_NO_THROW(check_supported(plain, caps));
  if (!caps.features.mem_track) {
    EXPECT_THROW(check_supported(plain, caps, DumpKind::PreDump), Error);
  }
}

TEST(CriuClientReal, Check) {
  REQUIRE_CRIU();
  CriuClient client;
  EXPECT_NO_THROW(client.check());
}

TEST(CriuClientReal, DumpLeaveRunningThenRestore) {
  REQUIRE_CRIU();
  TempDir dir, images;
  Counter counter(dir / "counter");
  ASSERT_TRUE(counter.wait_for_value(200));
  UniqueFd images_fd = images.open();

  CriuClient client;
  DumpOptions d;
  d.images_dir_fd = images_fd.get();
  d.pid = counter.pid();
  d.leave_running = true;
  d.log_level = 4;
  std::vector<std::string> dump_steps;
  uint64_t before = counter.value();
  client.dump(d, [&](Notify& n) { dump_steps.push_back(n.script); });
  uint64_t after = counter.value();

  for (const char* img : {"inventory.img", "pstree.img", "dump.log"})
    EXPECT_TRUE(path_exists(images / img)) << img;
  std::string core = images / ("core-" + std::to_string(counter.pid()) + ".img");
  EXPECT_TRUE(path_exists(core)) << core;
  EXPECT_EQ(::kill(counter.pid(), 0), 0) << "the dumped process must still run";
  EXPECT_NE(proc_state(counter.pid()), 'T');
  EXPECT_TRUE(counter.wait_for_value(after + 20)) << "the dumped process must keep counting";
  std::string steps;
  for (const auto& s : dump_steps) steps += s + " ";
  std::printf("dump notify steps: %s\n", steps.c_str());
  EXPECT_NE(steps.find("post-dump"), std::string::npos) << steps;

  // PIDs are kept on restore: the original must be gone first (a clone needs a new pid namespace).
  pid_t original = counter.pid();
  counter.stop();
  counter.write_value(0);

  RestoreOptions r;
  r.images_dir_fd = images_fd.get();
  r.rst_sibling = true;  // the restored task becomes our child, so we can reap it
  r.log_level = 4;
  std::vector<std::string> restore_steps;
  pid_t restored = client.restore(r, [&](Notify& n) { restore_steps.push_back(n.script); });
  counter.adopt(restored);
  EXPECT_EQ(restored, original);
  steps.clear();
  for (const auto& s : restore_steps) steps += s + " ";
  std::printf("restore notify steps: %s\n", steps.c_str());
  EXPECT_TRUE(path_exists(images / "restore.log"));

  ASSERT_TRUE(counter.wait_for_value(1)) << "the restored process does not run";
  uint64_t resumed = counter.value();
  std::printf("counter: %llu before dump, %llu after, %llu on restore\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(after),
              static_cast<unsigned long long>(resumed));
  EXPECT_GE(resumed, before) << "the restored process started over instead of resuming";
  EXPECT_TRUE(counter.wait_for_value(resumed + 20));
}

// Freezing through the v1 freezer cgroup (as a snapshot of a container would) instead of ptrace
// stopping each task; the tree must be thawed again afterwards.
TEST(CriuClientReal, DumpWithFreezeCgroupThaws) {
  REQUIRE_CRIU();
  const std::string root = "/sys/fs/cgroup/freezer";
  if (!path_exists(root + "/cgroup.procs")) GTEST_SKIP() << "no v1 freezer hierarchy";
  std::string cg = root + "/cryo-checkpoint-test-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << cg;
  struct RemoveCgroup {  // runs after the counter below is killed, when the cgroup is empty
    std::string path;
    ~RemoveCgroup() { ::rmdir(path.c_str()); }
  } remove_cgroup{cg};
  TempDir dir, images;
  {
    Counter counter(dir / "counter");
    ASSERT_TRUE(counter.wait_for_value(50));
    write_existing_file(cg + "/cgroup.procs", std::to_string(counter.pid()));
    UniqueFd images_fd = images.open();
    CriuClient client;
    DumpOptions d;
    d.images_dir_fd = images_fd.get();
    d.pid = counter.pid();
    d.leave_running = true;
    d.freeze_cgroup = cg;
    std::string state_in_post_dump;
    client.dump(d, [&](Notify& n) {
      if (n.script == "post-dump") state_in_post_dump = read_file(cg + "/freezer.state");
    });
    std::printf("freezer.state during post-dump: %s", state_in_post_dump.c_str());
    EXPECT_EQ(read_file(cg + "/freezer.state"), "THAWED\n");
    EXPECT_TRUE(path_exists(images / "inventory.img"));
    uint64_t v = counter.value();
    EXPECT_TRUE(counter.wait_for_value(v + 20)) << "the process stopped counting";
  }
}

TEST(CriuClientReal, DumpOfMissingPidQuotesCriuLog) {
  REQUIRE_CRIU();
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);  // a pid that surely does not exist now
  TempDir images, work;
  UniqueFd images_fd = images.open();
  UniqueFd work_fd = work.open();
  CriuClient client;
  DumpOptions d;
  d.images_dir_fd = images_fd.get();
  d.work_dir_fd = work_fd.get();  // the log goes here, not into the images
  d.pid = gone;
  std::string e = error_of([&] { client.dump(d); });
  std::printf("%s\n", e.c_str());
  EXPECT_NE(e.find("criu dump failed"), std::string::npos) << e;
  EXPECT_NE(e.find("criu log " + work.path() + "/dump.log"), std::string::npos) << e;
  EXPECT_FALSE(path_exists(images / "dump.log"));
  EXPECT_NE(e.find("Error"), std::string::npos) << e;
  EXPECT_EQ(e.find("RLIMIT_NOFILE"), std::string::npos) << "the harmless rlimit error was quoted";
}

TEST(CriuClientReal, RestoreOfEmptyImagesQuotesCriuLog) {
  REQUIRE_CRIU();
  TempDir images;
  UniqueFd images_fd = images.open();
  CriuClient client;
  RestoreOptions r;
  r.images_dir_fd = images_fd.get();
  std::string e = error_of([&] { client.restore(r); });
  std::printf("%s\n", e.c_str());
  EXPECT_NE(e.find("criu restore failed"), std::string::npos) << e;
  EXPECT_NE(e.find("restore.log"), std::string::npos) << e;
}

TEST(CriuClientReal, HandlerErrorAbortsDumpAndNamesTheStep) {
  REQUIRE_CRIU();
  TempDir dir, images;
  Counter counter(dir / "counter");
  ASSERT_TRUE(counter.wait_for_value(50));
  UniqueFd images_fd = images.open();
  CriuClient client;
  DumpOptions d;
  d.images_dir_fd = images_fd.get();
  d.pid = counter.pid();
  d.leave_running = true;
  std::string e = error_of([&] {
    client.dump(d, [](Notify& n) {
      if (n.script == "post-dump") throw Error("snapshot store is full");
    });
  });
  std::printf("%s\n", e.c_str());
  EXPECT_NE(e.find("notify step post-dump"), std::string::npos) << e;
  EXPECT_NE(e.find("snapshot store is full"), std::string::npos) << e;
  uint64_t v = counter.value();
  EXPECT_NE(proc_state(counter.pid()), 'T');
  EXPECT_NE(proc_state(counter.pid()), 't');
  EXPECT_TRUE(counter.wait_for_value(v + 20)) << "the process must run on after a failed dump";
}

// criu dies while the tree is seized: the call fails and the tree runs on, not left stopped.
void kill_criu_during(const std::string& step) {
  TempDir dir, images;
  Counter counter(dir / "counter");
  ASSERT_TRUE(counter.wait_for_value(50));
  UniqueFd images_fd = images.open();
  CriuClient client;
  DumpOptions d;
  d.images_dir_fd = images_fd.get();
  d.pid = counter.pid();
  d.leave_running = true;
  bool killed = false;
  std::string e = error_of([&] {
    client.dump(d, [&](Notify& n) {
      if (n.script != step) return;
      ::kill(n.criu_pid, SIGKILL);
      killed = true;
    });
  });
  ASSERT_TRUE(killed) << "no notify step " << step;
  std::printf("%s\n", e.c_str());
  EXPECT_NE(e.find("killed by signal 9"), std::string::npos) << e;
  EXPECT_NE(e.find(step), std::string::npos) << e;
  std::this_thread::sleep_for(50ms);
  char state = proc_state(counter.pid());
  EXPECT_TRUE(state == 'S' || state == 'R') << "state " << state;
  uint64_t v = counter.value();
  EXPECT_TRUE(counter.wait_for_value(v + 20)) << "the process stopped counting";
}

TEST(CriuClientReal, CriuKilledInPostDumpLeavesProcessRunning) {
  REQUIRE_CRIU();
  kill_criu_during("post-dump");
}

// query-ext-files comes while the tree is seized, before post-dump. (network-lock is only sent for
// trees with their own network namespace.)
TEST(CriuClientReal, CriuKilledInQueryExtFilesLeavesProcessRunning) {
  REQUIRE_CRIU();
  kill_criu_during("query-ext-files");
}

TEST(CriuClientReal, CriuKilledInPreDumpStepLeavesProcessRunning) {
  REQUIRE_CRIU();
  kill_criu_during("pre-dump");
}

TEST(CriuClientReal, PreDumpWithoutDirtyTrackingFailsClearly) {
  REQUIRE_CRIU();
  CriuClient client;
  CriuCapabilities caps = probe_capabilities(client);
  if (caps.features.mem_track) GTEST_SKIP() << "dirty tracking available here";
  TempDir dir, images;
  Counter counter(dir / "counter");
  ASSERT_TRUE(counter.wait_for_value(50));
  UniqueFd images_fd = images.open();
  DumpOptions d;
  d.images_dir_fd = images_fd.get();
  d.pid = counter.pid();
  std::string early;
  try {
    check_supported(d, caps, DumpKind::PreDump);
  } catch (const Error& e) {
    early = e.what();
  }
  EXPECT_NE(early.find("dirty memory tracking"), std::string::npos) << early;
  // And if a caller skips the check, CRIU itself refuses and we quote why.
  std::string e = error_of([&] { client.pre_dump(d); });
  std::printf("%s\n", e.c_str());
  EXPECT_NE(e.find("criu pre-dump failed"), std::string::npos) << e;
  EXPECT_NE(proc_state(counter.pid()), 'T');
  uint64_t v = counter.value();
  EXPECT_TRUE(counter.wait_for_value(v + 20)) << "the process stopped counting";
}

}  // namespace
}  // namespace cryo::checkpoint
