// Escape attempts from inside a default sandbox (created through cryod and its real engine). Every
// probe must fail, and the sandbox must stay usable (shell, python3, pip).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "base/file.h"
#include "tests/security/cryod_fixture.h"

namespace cryo::sec {
namespace {

using Escape = CryodTest;

void expect_refused(const std::map<std::string, std::string>& p, const std::string& name, const std::string& out) {
  auto it = p.find(name);
  ASSERT_NE(it, p.end()) << "probe " << name << " did not run:\n" << out;
  EXPECT_NE(it->second, "ok") << "ATTACK SUCCEEDED: " << name << "\n" << out;
}

TEST_F(Escape, EveryProbeFailsAndTheSandboxStillWorks) {
  std::string id = create();
  arm(id);
  pid_t sentry = sentry_pid(id);
  ASSERT_GT(sentry, 0);
  std::string sentry_bin_before = read_file(SENTRY_BIN);
  std::string cmd = "/tmp/attack escape " + std::to_string(sentry) + " " + std::to_string(cryod_->pid()) + " " +
                    std::to_string(::getpid());
  auto r = sh(id, cmd);
  std::string out = r["stdout"];
  ASSERT_EQ(r["exit_code"], 0) << r.dump();
  auto p = parse_probes(out);
  std::printf("%s", out.c_str());

  // Kernel interfaces without namespaces: the default seccomp profile answers EPERM.
  for (auto* name : {"add_key", "keyctl", "bpf", "kexec_load", "open_by_handle_at", "perf_event_open"}) {
    expect_refused(p, name, out);
    EXPECT_EQ(p[name], "EPERM") << name << " should be refused by seccomp";
  }
  // Namespaces: no user namespace to regain capabilities, no way into another mount namespace.
  for (auto* name : {"unshare_user", "unshare_mnt", "setns_mnt"}) expect_refused(p, name, out);
  // The runtime binary (CVE-2019-5736) and host fds or cwd (CVE-2024-21626).
  for (auto* name : {"write_self_exe", "write_init_exe"}) expect_refused(p, name, out);
  EXPECT_EQ(p["host_fd"], "none") << out;
  EXPECT_EQ(p["host_cwd"], "inside") << out;
  EXPECT_EQ(p["chroot_escape"], "refused") << out;
  // Mounts.
  for (auto* name : {"mount_tmpfs", "mount_proc", "remount_root_ro", "umount_proc"}) expect_refused(p, name, out);
  // Kernel knobs and memory.
  for (auto* name : {"write_proc_sys", "write_proc_sys_vm", "write_sysrq", "read_kcore", "write_kcore",
                     "write_sys_kernel", "write_sys_class", "write_sys_cgroup", "write_cgroup_procs"})
    expect_refused(p, name, out);
  // Devices: a node may not be made, and none may be opened.
  for (auto* name : {"mknod_blk", "open_blk", "mknod_mem", "open_mem", "open_dev_mem"}) expect_refused(p, name, out);
  // Host processes: invisible, and unreachable by pid.
  EXPECT_LE(std::stoi(p["visible_pids"]), 8) << out;
  for (pid_t host : {sentry, cryod_->pid(), ::getpid()}) {
    std::string s = std::to_string(host);
    for (auto* what : {"ptrace_", "seize_", "kill_", "pidfd_"}) expect_refused(p, what + s, out);
  }
  EXPECT_TRUE(pid_alive(sentry));
  EXPECT_EQ(read_file(SENTRY_BIN), sentry_bin_before) << "the sentry binary changed";

  // The same through the tools a user would reach for.
  auto t = sh(id,
              "mount -t tmpfs none /mnt 2>/dev/null && echo mount; "
              "unshare -U -r true 2>/dev/null && echo unshare; "
              "unshare -m true 2>/dev/null && echo unshare_m; "
              "echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq; "
              "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo panic; "
              "echo x > /proc/self/exe 2>/dev/null && echo exe; "
              "mknod /tmp/sdb b 8 16 2>/dev/null && echo mknod; "
              "ls /proc | grep -c '^[0-9]'");
  std::string tout = t["stdout"];
  ASSERT_FALSE(tout.empty()) << t.dump();
  auto last = tout.substr(tout.rfind('\n', tout.size() - 2) == std::string::npos ? 0 : tout.rfind('\n', tout.size() - 2) + 1);
  EXPECT_LE(std::atoi(last.c_str()), 8) << t.dump();
  for (auto* word : {"mount", "unshare", "sysrq", "panic", "exe", "mknod"})
    EXPECT_EQ(t["stdout"].get<std::string>().find(word), std::string::npos) << word << ": " << t.dump();

  // Still a working sandbox under the profile: shell, python3 (threads, subprocess), pip.
  auto py = sh(id,
               "python3 -c 'import threading,subprocess,os; t=threading.Thread(target=print,args=(\"thread\",)); "
               "t.start(); t.join(); print(subprocess.run([\"echo\",\"sub\"],capture_output=True,text=True).stdout.strip()); "
               "print(os.fork() and \"forked\" or os._exit(0))'");
  EXPECT_EQ(py["stdout"], "thread\nsub\nforked\n") << py.dump();
  auto pip = sh(id, "pip3 --version || python3 -m pip --version");
  EXPECT_EQ(pip["exit_code"], 0) << pip.dump();
  EXPECT_NE(pip["stdout"].get<std::string>().find("pip"), std::string::npos) << pip.dump();
  EXPECT_EQ(sh(id, "cat /proc/self/status | grep ^Seccomp: | tr -d '\\t '")["stdout"], "Seccomp:2\n");
}

// With network off, the sandbox has its own network namespace: a server on the host's loopback is
// out of reach. The same probe from a sandbox with network on reaches it (the probe works).
TEST_F(Escape, HostLoopbackIsUnreachableWithoutNetwork) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(s, 16), 0);
  socklen_t len = sizeof sa;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len);
  int port = ntohs(sa.sin_port);
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        if (!stop) ++accepted;
        ::close(c);
      }
    }
  });

  std::string off = create();
  arm(off);
  auto r = sh(off, "/tmp/attack connect " + std::to_string(port) +
                       "; wget -q -T 2 -O- http://127.0.0.1:" + std::to_string(port) + "/ 2>/dev/null && echo wget");
  // Refused by its own loopback, or unreachable when that is down: never "connect ok".
  std::string got = r["stdout"];
  EXPECT_TRUE(got == "connect ECONNREFUSED\n" || got == "connect ENETUNREACH\n") << r.dump();
  EXPECT_EQ(sh(off, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '")["stdout"], "lo\n");
  EXPECT_EQ(accepted.load(), 0);

  std::string on = create({{"network", true}});
  arm(on);
  r = sh(on, "/tmp/attack connect " + std::to_string(port));
  EXPECT_EQ(r["stdout"], "connect ok\n") << "control: the probe reaches the host with network on";

  stop = true;
  ::shutdown(s, SHUT_RDWR);
  ::close(s);
  server.join();
}

}  // namespace
}  // namespace cryo::sec
