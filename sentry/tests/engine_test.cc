// The sentry engine with real containers: commands, isolation, re-adoption, clean kill.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/file.h"
#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using namespace std::chrono_literals;
using service::CommandSpec;
using service::OutputSink;
using service::SandboxSpec;

// Collects a background command's output and its (single) exit report.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::string out, err;
  int exits = 0, code = -1;

  OutputSink sink() {
    OutputSink s;
    s.on_stdout = [this](std::string_view d) { add(out, d); };
    s.on_stderr = [this](std::string_view d) { add(err, d); };
    s.on_exit = [this](int c) {
      std::lock_guard l(mu);
      ++exits;
      code = c;
      cv.notify_all();
    };
    return s;
  }
  void add(std::string& to, std::string_view d) {
    std::lock_guard l(mu);
    to.append(d);
    cv.notify_all();
  }
  bool wait_for(std::function<bool()> pred, std::chrono::seconds t = 20s) {
    std::unique_lock l(mu);
    return cv.wait_for(l, t, pred);
  }
};

TEST_F(EngineTest, RunsCommandsWithOutputAndExitCodes) {
  std::string id = create();
  auto r = run(id, "echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.stdout_data, "out\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.timed_out);
  // Inside: its own hostname, pid namespace, root user, python from the host's /usr.
  EXPECT_EQ(run(id, "hostname").stdout_data, id + "\n");
  EXPECT_EQ(run(id, "id -u").stdout_data, "0\n");
  EXPECT_EQ(run(id, "python3 -c 'print(6*7)'").stdout_data, "42\n");
  EXPECT_EQ(run(id, "cat /proc/1/cmdline").stdout_data, std::string("/.cryo/init") + '\0');

  pid_t sentry = sentry_pid(id);
  long rss = vm_rss_kib(sentry);
  std::printf("sentry pid %d VmRSS %ld KiB\n", sentry, rss);
  RecordProperty("sentry_vmrss_kib", std::to_string(rss));
}

TEST_F(EngineTest, EnvCwdUserAndStdin) {
  SandboxSpec spec;
  spec.env = {{"FROM_SPEC", "spec"}, {"BOTH", "spec"}};
  spec.cwd = "/workspace";
  std::string id = create(spec);
  CommandSpec cmd;
  cmd.env = {{"BOTH", "cmd"}};
  auto r = run(id, "echo $FROM_SPEC $BOTH; pwd", cmd);
  EXPECT_EQ(r.stdout_data, "spec cmd\n/workspace\n");
  cmd = {};
  cmd.cwd = "/tmp";
  EXPECT_EQ(run(id, "pwd", cmd).stdout_data, "/tmp\n");
  cmd.cwd = "/does/not/exist";
  EXPECT_THROW(run(id, "pwd", cmd), service::BadRequest);
  cmd = {};
  cmd.user = "user";
  EXPECT_EQ(run(id, "id -u; id -g; echo $HOME", cmd).stdout_data, "1000\n1000\n/home/user\n");
  cmd.user = "nosuchuser";
  EXPECT_THROW(run(id, "id", cmd), service::BadRequest);
  cmd = {};
  cmd.stdin_data = "fed through stdin";
  EXPECT_EQ(run(id, "cat", cmd).stdout_data, "fed through stdin");
  EXPECT_EQ(run(id, "exec nosuchprogram").exit_code, 127);
}

TEST_F(EngineTest, TimeoutKillsTheCommand) {
  std::string id = create();
  CommandSpec cmd;
  cmd.timeout_s = 0.5;
  auto start = std::chrono::steady_clock::now();
  auto r = run(id, "echo before; sleep 30", cmd);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_EQ(r.stdout_data, "before\n");
}

TEST_F(EngineTest, BackgroundCommandStreamsAndCanBeKilled) {
  std::string id = create();
  Collector c;
  CommandSpec cmd;
  cmd.argv = {"/bin/sh", "-c", "echo started; while :; do sleep 1; done"};
  std::string cmd_id = engine_->start_command(id, cmd, c.sink());
  ASSERT_TRUE(c.wait_for([&] { return c.out == "started\n"; })) << c.out;
  auto listed = engine_->list_commands(id);
  EXPECT_NE(std::find(listed.begin(), listed.end(), cmd_id), listed.end());
  engine_->kill_command(id, cmd_id, SIGTERM);
  ASSERT_TRUE(c.wait_for([&] { return c.exits > 0; }));
  EXPECT_EQ(c.code, 128 + SIGTERM);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(c.exits, 1);
  EXPECT_TRUE(engine_->list_commands(id).empty());
  EXPECT_THROW(engine_->kill_command(id, cmd_id, SIGKILL), service::NotFound);
}

TEST_F(EngineTest, BackgroundCommandStdin) {
  std::string id = create();
  Collector c;
  CommandSpec cmd;
  cmd.argv = {"/bin/sh", "-c", "while read line; do echo got:$line; done; echo eof"};
  cmd.stdin_data = "one\n";
  std::string cmd_id = engine_->start_command(id, cmd, c.sink());
  ASSERT_TRUE(c.wait_for([&] { return c.out == "got:one\n"; })) << c.out;
  engine_->write_stdin(id, cmd_id, "two\n", false);
  ASSERT_TRUE(c.wait_for([&] { return c.out == "got:one\ngot:two\n"; })) << c.out;
  engine_->write_stdin(id, cmd_id, "three\n", true);
  ASSERT_TRUE(c.wait_for([&] { return c.exits == 1; }));
  EXPECT_EQ(c.out, "got:one\ngot:two\ngot:three\neof\n");
  EXPECT_EQ(c.code, 0);
}

TEST_F(EngineTest, NoNetworkByDefault) {
  std::string id = create();
  // /proc/net/dev lists the interfaces of the sandbox's network namespace.
  auto r = run(id, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
  EXPECT_EQ(r.stdout_data, "lo\n");
  SandboxSpec spec;
  spec.network = true;
  std::string with_net = create(spec);
  auto host = run(with_net, "tail -n +3 /proc/net/dev | wc -l");
  EXPECT_NE(host.stdout_data, "1\n");
}

TEST_F(EngineTest, LimitsBecomeCgroupSettings) {
  SandboxSpec spec;
  spec.limits.memory_bytes = 256 << 20;
  spec.limits.pids = 64;
  spec.limits.cpus = 0.5;
  std::string id = create(spec);
  EXPECT_EQ(read_file("/sys/fs/cgroup/memory/cryo/" + id + "/memory.limit_in_bytes"), std::to_string(256 << 20) + "\n");
  EXPECT_EQ(read_file("/sys/fs/cgroup/pids/cryo/" + id + "/pids.max"), "64\n");
  EXPECT_EQ(read_file("/sys/fs/cgroup/cpu/cryo/" + id + "/cpu.cfs_quota_us"), "50000\n");
  spec.limits.cpus = -1;
  EXPECT_THROW(create(spec), service::BadRequest);
}

TEST_F(EngineTest, SandboxSurvivesTheEngineAndIsAdopted) {
  std::string id = create();
  ASSERT_EQ(run(id, "echo hello > /workspace/kept").exit_code, 0);
  Collector c;
  CommandSpec cmd;
  cmd.argv = {"/bin/sh", "-c", "sleep 300"};
  std::string cmd_id = engine_->start_command(id, cmd, c.sink());
  pid_t sentry = sentry_pid(id);
  engine_.reset();  // cryod goes away (no on_exit: nobody is left to tell)
  EXPECT_EQ(c.exits, 0);
  ASSERT_TRUE(process_alive(sentry));

  engine_ = make_engine();
  auto alive = engine_->running();
  ASSERT_EQ(alive, std::vector<std::string>{id});
  EXPECT_TRUE(engine_->alive(id));
  EXPECT_EQ(run(id, "cat /workspace/kept").stdout_data, "hello\n");
  // The command started by the old engine is still known to the sentry.
  EXPECT_EQ(engine_->list_commands(id), std::vector<std::string>{cmd_id});
  engine_->kill_command(id, cmd_id, SIGKILL);
}

TEST_F(EngineTest, KillCleansUp) {
  std::string id = create();
  Collector c;
  CommandSpec cmd;
  cmd.argv = {"/bin/sh", "-c", "sleep 300"};
  engine_->start_command(id, cmd, c.sink());
  pid_t sentry = sentry_pid(id), init = init_pid(id);
  std::string rootfs = sandbox_dir(id) + "/bundle/rootfs", layer = sandbox_dir(id) + "/layer";
  ASSERT_TRUE(process_alive(sentry));
  ASSERT_TRUE(process_alive(init));
  ASSERT_TRUE(is_mounted(rootfs));
  ASSERT_TRUE(is_mounted(layer));
  ASSERT_TRUE(cgroup_exists(id));

  engine_->kill(id);
  EXPECT_FALSE(process_alive(sentry));
  EXPECT_FALSE(process_alive(init));
  EXPECT_FALSE(is_mounted(rootfs));
  EXPECT_FALSE(is_mounted(layer));
  EXPECT_FALSE(cgroup_exists(id));
  EXPECT_FALSE(path_exists(sandbox_dir(id)));
  EXPECT_FALSE(path_exists(state_ + "/run/" + id));
  EXPECT_TRUE(c.wait_for([&] { return c.exits == 1; }));  // the command ended with its sandbox
  EXPECT_FALSE(engine_->alive(id));
  EXPECT_THROW(engine_->kill(id), service::NotFound);
  EXPECT_THROW(run(id, "true"), service::NotFound);
}

TEST_F(EngineTest, DeadInitEndsTheSandboxAndKillStillCleansUp) {
  std::string id = create();
  pid_t sentry = sentry_pid(id);
  ASSERT_EQ(::kill(init_pid(id), SIGKILL), 0);
  for (int i = 0; i < 100 && process_alive(sentry); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(process_alive(sentry));
  EXPECT_FALSE(engine_->alive(id));
  EXPECT_TRUE(engine_->running().empty());
  engine_->kill(id);
  EXPECT_FALSE(path_exists(sandbox_dir(id)));
  EXPECT_FALSE(cgroup_exists(id));
}

TEST_F(EngineTest, SeveralSandboxesAreIndependent) {
  std::string a = create(), b = create();
  ASSERT_EQ(run(a, "echo a > /workspace/f").exit_code, 0);
  EXPECT_EQ(run(b, "cat /workspace/f 2>/dev/null || echo none").stdout_data, "none\n");
  EXPECT_EQ(run(a, "ls /proc | grep -c '^[0-9]'").stdout_data.empty(), false);
  auto ids = engine_->running();
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace cryo::sentry_test
