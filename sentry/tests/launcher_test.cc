// Commands forked by the sentry's launcher (sentry/launcher.h) with real containers: they get
// exactly the isolation of the sandbox's own processes, the launcher stays invisible inside, and
// commands still run when the launcher cannot fork (pids limit) or is gone.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "base/file.h"
#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using namespace std::chrono_literals;

std::string read_link_or_empty(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The sentry's children that run the sentry's own binary: the launcher (the init is another).
std::vector<pid_t> launchers_of(pid_t sentry) {
  std::vector<pid_t> out;
  std::string exe = read_link_or_empty("/proc/" + std::to_string(sentry) + "/exe");
  DIR* d = ::opendir("/proc");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    auto stat = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) continue;
    auto close = stat->rfind(')');
    int ppid = 0;
    if (close == std::string::npos || std::sscanf(stat->c_str() + close + 2, "%*c %d", &ppid) != 1) continue;
    if (ppid == sentry && read_link_or_empty("/proc/" + std::to_string(pid) + "/exe") == exe) out.push_back(pid);
  }
  if (d) ::closedir(d);
  return out;
}

TEST_F(EngineTest, LaunchedCommandsHaveTheSandboxIsolation) {
  std::string id = create();
  // Same namespaces, cgroups, capabilities, no_new_privs and seccomp filter as the sandbox's init.
  const char* compare =
      "for f in ipc mnt net pid uts cgroup user; do [ \"$(readlink /proc/self/ns/$f)\" = \"$(readlink /proc/1/ns/$f)\" ] "
      "|| echo ns $f differs; done; "
      "[ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] || echo cgroups differ; "
      "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status > /tmp/me; "
      "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/1/status > /tmp/init; "
      "cmp -s /tmp/me /tmp/init || { echo status differs; diff /tmp/me /tmp/init; }; "
      "grep -q '^Seccomp:.*2' /proc/self/status || echo no seccomp filter";
  for (int i = 0; i < 3; ++i) {  // the launcher serves more than one command with the same result
    auto r = run(id, compare);
    EXPECT_EQ(r.stdout_data, "") << r.stderr_data;
    EXPECT_EQ(r.exit_code, 0);
  }
  // The filter is the sandbox profile's: unshare (a new user namespace) is refused.
  EXPECT_NE(run(id, "unshare -U true").exit_code, 0);
  // The launcher is not in the sandbox's pid namespace: nothing inside runs the sentry's binary.
  pid_t sentry = sentry_pid(id);
  ASSERT_EQ(launchers_of(sentry).size(), 1u);
  // ([s]: grep's own command line must not match.)
  EXPECT_EQ(run(id, "cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -c 'cryo-[s]entry'").stdout_data, "0\n");
}

TEST_F(EngineTest, CommandsRunAtThePidsLimit) {
  service::SandboxSpec spec;
  spec.limits.pids = 12;
  std::string id = create(spec);
  std::string current = "/sys/fs/cgroup/pids/cryo/" + id + "/pids.current";
  // Fill the pids limit with sleepers: the launcher cannot fork inside the cgroup any more.
  service::CommandSpec sleeper;
  sleeper.argv = {"/bin/sleep", "1000"};
  for (int i = 0; i < 20 && std::stoi(read_file(current)) < 12; ++i) engine_->start_command(id, sleeper, {});
  ASSERT_GE(std::stoi(read_file(current)), 12);
  // A command still runs (joining the cgroup is allowed where forking inside it is not) and can
  // clean up.
  auto r = run(id, "kill -9 -1; echo cleaned");
  EXPECT_EQ(r.stdout_data, "cleaned\n") << r.stderr_data;
  EXPECT_EQ(run(id, "echo after").stdout_data, "after\n");
}

TEST_F(EngineTest, AKilledLauncherIsReplaced) {
  std::string id = create();
  EXPECT_EQ(run(id, "echo one").stdout_data, "one\n");
  pid_t sentry = sentry_pid(id);
  auto launchers = launchers_of(sentry);
  ASSERT_EQ(launchers.size(), 1u);
  ASSERT_EQ(::kill(launchers[0], SIGKILL), 0);
  for (int i = 0; i < 100 && ::kill(launchers[0], 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  for (const char* word : {"two", "three", "four"}) EXPECT_EQ(run(id, std::string("echo ") + word).stdout_data, std::string(word) + "\n");
  auto replaced = launchers_of(sentry);
  ASSERT_EQ(replaced.size(), 1u);
  EXPECT_NE(replaced[0], launchers[0]);
}

}  // namespace
}  // namespace cryo::sentry_test
