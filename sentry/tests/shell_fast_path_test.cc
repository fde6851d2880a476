// `/bin/sh -c STRING` commands in real sandboxes: a plain command runs without the shell
// (sentry/simple_command.h), and everything the shell would do differently still goes through it,
// with the shell's own results: missing programs, scripts, builtins, shell syntax, the environment.
#include <algorithm>

#include "sentry/tests/engine_fixture.h"

namespace cryo::sentry_test {
namespace {

using service::CommandSpec;

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The value of a "Key:\tvalue" line of /proc/PID/status text.
std::string status_field(const std::string& status, const std::string& key) {
  std::string text = "\n" + status;
  auto pos = text.find("\n" + key + ":\t");
  if (pos == std::string::npos) return "";
  pos += key.size() + 3;
  return text.substr(pos, text.find('\n', pos) - pos);
}

class ShellFastPath : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (!IsSkipped()) id_ = create();
  }
  std::string id_;
};

TEST_F(ShellFastPath, APlainCommandRunsWithoutTheShell) {
  auto r = run(id_, "cat /proc/self/status");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stderr_data, "");
  // cat is the command's process itself: its parent is the sentry, outside the sandbox's pid
  // namespace (0), not a shell.
  EXPECT_EQ(status_field(r.stdout_data, "Name"), "cat");
  EXPECT_EQ(status_field(r.stdout_data, "PPid"), "0");
  // The same isolation as any command (the launcher's steps all ran before the exec).
  EXPECT_EQ(status_field(r.stdout_data, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(r.stdout_data, "Seccomp"), "2");

  r = run(id_, "  ls  -d\t/tmp /proc ");
  EXPECT_EQ(r.stdout_data, "/proc\n/tmp\n");
  EXPECT_EQ(r.exit_code, 0);
  // Exit codes and stderr are the program's.
  r = run(id_, "ls /no/such/path");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_data.find("/no/such/path"), std::string::npos) << r.stderr_data;
  EXPECT_EQ(run(id_, "true").exit_code, 0);
  EXPECT_EQ(run(id_, "false").exit_code, 1);
  // cwd, user and the command's env: its PATH finds the program.
  CommandSpec cmd;
  cmd.cwd = "/tmp";
  cmd.user = "user";
  EXPECT_EQ(run(id_, "id -u", cmd).stdout_data, "1000\n");
  EXPECT_EQ(run(id_, "readlink /proc/self/cwd", cmd).stdout_data, "/tmp\n");
  ASSERT_EQ(run(id_, "mkdir -p /tmp/bin && printf '#!/bin/sh\\necho mine \"$@\"\\n' > /tmp/bin/mine && chmod +x /tmp/bin/mine")
                .exit_code,
            0);
  cmd = {};
  cmd.env = {{"PATH", "/tmp/bin:/usr/bin:/bin"}};
  EXPECT_EQ(run(id_, "mine a b", cmd).stdout_data, "mine a b\n");
}

TEST_F(ShellFastPath, TheEnvironmentIsTheOneTheShellPassesOn) {
  // dash exports PWD and otherwise passes the environment through: `env` alone must print what
  // `env` run by the shell prints (in another order).
  for (const char* cwd : {"/", "/tmp"}) {
    CommandSpec cmd;
    cmd.cwd = cwd;
    cmd.env = {{"FROM_CMD", "x y"}};
    auto direct = run(id_, "env", cmd);
    auto via_sh = run(id_, "env;", cmd);
    EXPECT_EQ(sorted_lines(direct.stdout_data), sorted_lines(via_sh.stdout_data)) << cwd;
    EXPECT_NE(direct.stdout_data.find(std::string("PWD=") + cwd + "\n"), std::string::npos) << direct.stdout_data;
  }
}

TEST_F(ShellFastPath, AMissingCommandIsTheShells127AndMessage) {
  auto direct = run(id_, "no-such-command --flag");
  EXPECT_EQ(direct.exit_code, 127);
  EXPECT_EQ(direct.stdout_data, "");
  EXPECT_EQ(direct.stderr_data, "/bin/sh: 1: no-such-command: not found\n");
  auto via_sh = run(id_, "no-such-command --flag;");
  EXPECT_EQ(via_sh.exit_code, 127);
  EXPECT_EQ(via_sh.stderr_data, direct.stderr_data);
  // With a slash: the shell's own words for it too.
  auto path = run(id_, "/no/such/program");
  EXPECT_EQ(path.exit_code, 127);
  EXPECT_EQ(path.stderr_data, "/bin/sh: 1: /no/such/program: not found\n");
}

TEST_F(ShellFastPath, FilesTheKernelCannotRunAreTheShells) {
  // Not executable: 126 and the shell's message.
  ASSERT_EQ(run(id_, "echo 'echo ran' > /tmp/plain").exit_code, 0);
  auto r = run(id_, "/tmp/plain");
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_EQ(r.stderr_data, "/bin/sh: 1: /tmp/plain: Permission denied\n");
  // Executable but without `#!`: the kernel refuses it (ENOEXEC), the shell runs it as a script.
  ASSERT_EQ(run(id_, "printf 'echo script ran with $#: $1\\nexit 5\\n' > /tmp/script && chmod +x /tmp/script").exit_code, 0);
  r = run(id_, "/tmp/script arg");
  EXPECT_EQ(r.stdout_data, "script ran with 1: arg\n");
  EXPECT_EQ(r.exit_code, 5);
}

TEST_F(ShellFastPath, ShellSyntaxStillGoesThroughTheShell) {
  // $$ is the shell's pid: it runs the command line it was given.
  auto r = run(id_, "cat /proc/$$/cmdline");
  EXPECT_EQ(r.stdout_data, std::string("/bin/sh\0-c\0cat /proc/$$/cmdline\0", 32));
  EXPECT_EQ(run(id_, "echo a && echo b | tr b c; echo \"$((6*7))\" '$x' *.nothing").stdout_data, "a\nc\n42 $x *.nothing\n");
  EXPECT_EQ(run(id_, "X=1 env | grep ^X=").stdout_data, "X=1\n");
  EXPECT_EQ(run(id_, "ls /no/such 2>&1 >/dev/null | wc -l").stdout_data, "1\n");
  EXPECT_EQ(run(id_, "ls -d / # a comment").stdout_data, "/\n");
  EXPECT_EQ(run(id_, "exit 7").exit_code, 7);
}

TEST_F(ShellFastPath, BuiltinsAreTheShells) {
  // No program is called `cd` or `umask`: only the shell has them.
  auto r = run(id_, "cd /tmp");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stderr_data, "");
  EXPECT_EQ(run(id_, "cd /no/such/dir").exit_code, 2);
  EXPECT_EQ(run(id_, "umask").stdout_data, "0022\n");
  EXPECT_EQ(run(id_, "type ls").stdout_data.rfind("ls is /", 0), 0u);
  // `echo` is a builtin and a program that differ: the builtin answers.
  EXPECT_EQ(run(id_, "echo --help").stdout_data, "--help\n");
  // `true` with arguments stays the builtin (the program would print its help).
  r = run(id_, "true --help");
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace cryo::sentry_test
