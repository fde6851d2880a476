// The shell-less fast path for `/bin/sh -c STRING`: which strings qualify (pure), and the exec
// step in a forked child (PATH from the command's env, PWD as dash exports it, give-up cases).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "base/file.h"
#include "sentry/direct_exec.h"
#include "sentry/simple_command.h"

using cryo::sentry::exec_like_sh;
using cryo::sentry::path_candidates;
using cryo::sentry::simple_command_words;
using Words = std::vector<std::string>;

namespace {

const Words kEnv = {"PATH=/usr/bin:/bin", "HOME=/root"};

std::optional<Words> sh_c(const std::string& cmd, const Words& env = kEnv) {
  return simple_command_words({"/bin/sh", "-c", cmd}, env);
}

TEST(SimpleCommand, PlainWordsAreSplitOnBlanks) {
  EXPECT_EQ(sh_c("ls"), Words{"ls"});
  EXPECT_EQ(sh_c("ls -l /tmp"), (Words{"ls", "-l", "/tmp"}));
  EXPECT_EQ(sh_c("  ls \t -la\t/tmp  "), (Words{"ls", "-la", "/tmp"}));
  EXPECT_EQ(sh_c("/usr/bin/env"), Words{"/usr/bin/env"});
  EXPECT_EQ(sh_c("./run.sh --flag"), (Words{"./run.sh", "--flag"}));
  EXPECT_EQ(sh_c("python3 -m http.server 8000"), (Words{"python3", "-m", "http.server", "8000"}));
  EXPECT_EQ(sh_c("date +%s"), (Words{"date", "+%s"}));
  EXPECT_EQ(sh_c("git log -1 --format=x"), std::nullopt);  // `=` anywhere: left to sh
  EXPECT_EQ(sh_c("cp a,b c:d user@host"), (Words{"cp", "a,b", "c:d", "user@host"}));
  EXPECT_EQ(sh_c("sleep 1"), (Words{"sleep", "1"}));
  EXPECT_EQ(sh_c("uname -a"), (Words{"uname", "-a"}));
  EXPECT_EQ(sh_c("x_y-z.1"), Words{"x_y-z.1"});
}

TEST(SimpleCommand, BareTrueAndFalseQualify) {
  EXPECT_EQ(sh_c("true"), Words{"true"});
  EXPECT_EQ(sh_c(" false "), Words{"false"});
  // With arguments the programs differ from the builtins (`true --help` prints help).
  EXPECT_EQ(sh_c("true --help"), std::nullopt);
  EXPECT_EQ(sh_c("false x"), std::nullopt);
}

TEST(SimpleCommand, ShellSyntaxIsLeftToTheShell) {
  for (const char* cmd : {
           "echo 'a b'",   "ls \"x\"",      "ls a\\ b",      "echo $HOME",     "ls `pwd`",       "ls $(pwd)",
           "a; b",         "a && b",        "a || b",        "a | b",          "a &",            "a > f",
           "a < f",        "a 2>&1",        "(a)",           "{ a; }",         "ls *.c",         "ls a?",
           "ls [ab]",      "ls ~",          "ls ~/x",        "a # comment",    "#a",             "X=1 env",
           "a\nb",         "a\rb",          "ls {a,b}",      "! a",            "a ^ b",          "ls \xc3\xa9",
           "a\x01",        "ls a=b",        "ls a!",         "ls %s%%\\",      "env -- 'x'",
       }) {
    EXPECT_EQ(sh_c(cmd), std::nullopt) << cmd;
  }
}

TEST(SimpleCommand, KeywordsAndBuiltinsAreLeftToTheShell) {
  for (const char* word : {".",      ":",       "alias",   "bg",      "break",  "builtin", "case",    "cd",
                           "chdir",  "command", "continue", "declare", "do",     "done",    "echo",    "elif",
                           "else",   "esac",    "eval",    "exec",    "exit",   "export",  "fc",      "fg",
                           "fi",     "for",     "function", "getopts", "hash",  "if",      "in",      "jobs",
                           "kill",   "let",     "local",   "printf",  "pwd",    "read",    "readonly", "return",
                           "select", "set",     "shift",   "source",  "test",   "then",    "time",    "times",
                           "trap",   "type",    "typeset", "ulimit",  "umask",  "unalias", "unset",   "until",
                           "wait",   "while",   "newgrp",  "coproc"}) {
    EXPECT_EQ(sh_c(word), std::nullopt) << word;
    EXPECT_EQ(sh_c(std::string(word) + " x"), std::nullopt) << word;
  }
  // Only the first word matters: later ones are arguments.
  EXPECT_EQ(sh_c("ls echo cd"), (Words{"ls", "echo", "cd"}));
  // Programs whose names merely start like builtins are programs.
  EXPECT_EQ(sh_c("testparm"), Words{"testparm"});
  EXPECT_EQ(sh_c("echo2"), Words{"echo2"});
}

TEST(SimpleCommand, OnlyTheExactShDashCShape) {
  EXPECT_EQ(simple_command_words({"/bin/sh", "-c", "ls", "name"}, kEnv), std::nullopt);  // $0 given
  EXPECT_EQ(simple_command_words({"/bin/sh", "-c"}, kEnv), std::nullopt);
  EXPECT_EQ(simple_command_words({"sh", "-c", "ls"}, kEnv), std::nullopt);
  EXPECT_EQ(simple_command_words({"/bin/bash", "-c", "ls"}, kEnv), std::nullopt);
  EXPECT_EQ(simple_command_words({"/bin/sh", "-ec", "ls"}, kEnv), std::nullopt);
  EXPECT_EQ(simple_command_words({"ls", "-l"}, kEnv), std::nullopt);
  EXPECT_EQ(simple_command_words({}, kEnv), std::nullopt);
  EXPECT_EQ(sh_c(""), std::nullopt);  // nothing to run: sh exits 0
  EXPECT_EQ(sh_c(" \t "), std::nullopt);
}

TEST(SimpleCommand, EnvironmentsDashWouldChangeAreLeftToIt) {
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "LANG=C.UTF-8", "_X1=", "PWD=/somewhere"}), Words{"ls"});
  EXPECT_EQ(sh_c("ls", {}), std::nullopt);                              // no PATH: dash's default
  EXPECT_EQ(sh_c("ls", {"HOME=/"}), std::nullopt);
  EXPECT_EQ(sh_c("ls", {"PATH=/bin%builtin"}), std::nullopt);           // dash's PATH extension
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "NOEQUALS"}), std::nullopt);       // dropped by dash
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "1A=x"}), std::nullopt);           // invalid name: dropped
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "A-B=x"}), std::nullopt);
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "=x"}), std::nullopt);
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "A=1", "A=2"}), std::nullopt);     // dash keeps one
  EXPECT_EQ(sh_c("ls", {"PATH=/bin", "PATH=/usr/bin"}), std::nullopt);
  for (const char* reset : {"OPTIND=3", "PPID=1", "IFS=x"})
    EXPECT_EQ(sh_c("ls", {"PATH=/bin", reset}), std::nullopt) << reset;
}

TEST(SimpleCommand, PathCandidatesInOrder) {
  EXPECT_EQ(path_candidates("ls", "/usr/bin:/bin"), (Words{"/usr/bin/ls", "/bin/ls"}));
  EXPECT_EQ(path_candidates("ls", "/bin"), Words{"/bin/ls"});
  EXPECT_EQ(path_candidates("ls", ""), Words{"./ls"});
  EXPECT_EQ(path_candidates("ls", ":/bin:"), (Words{"./ls", "/bin/ls", "./ls"}));
  EXPECT_EQ(path_candidates("ls", "rel:/bin"), (Words{"rel/ls", "/bin/ls"}));
  EXPECT_EQ(path_candidates("./ls", "/bin"), Words{"./ls"});
  EXPECT_EQ(path_candidates("/bin/ls", "/usr/bin"), Words{"/bin/ls"});
  EXPECT_EQ(path_candidates("a/b", "/usr/bin"), Words{"a/b"});
}

// ---- the exec step, in forked children --------------------------------------------------------

class ExecLikeSh : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cryo-exec-like-sh-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { cryo::remove_tree(dir_); }

  void make_dir(const std::string& name) { ASSERT_EQ(::mkdir((dir_ + "/" + name).c_str(), 0755), 0); }
  void write(const std::string& name, const std::string& text, mode_t mode) {
    cryo::write_file_atomic(dir_ + "/" + name, text, mode);
    ASSERT_EQ(::chmod((dir_ + "/" + name).c_str(), mode), 0);
  }

  struct Outcome {
    bool returned = false;  // exec_like_sh gave up (the child then exits 99)
    int code = -1;
    std::string out;
  };
  // Runs exec_like_sh in a child whose cwd is `cwd` and whose own PATH is useless.
  Outcome run(const Words& words, const Words& env, const std::string& cwd) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(p[1], 1);
      ::close(p[0]);
      ::setenv("PATH", "/nonexistent", 1);
      if (::chdir(cwd.c_str()) != 0) ::_exit(98);
      exec_like_sh(words, env);
      ::_exit(99);
    }
    ::close(p[1]);
    Outcome o;
    o.out = cryo::read_fd(p[0]);
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    o.returned = o.code == 99;
    return o;
  }

  std::string dir_;
};

TEST_F(ExecLikeSh, SearchesTheCommandsPathWithItsWordsAsArgv) {
  make_dir("a");
  make_dir("b");
  write("b/tool", "#!/bin/sh\necho \"$0|$1|$2|$X|$PWD\"\n", 0755);
  auto o = run({"tool", "one", "two"}, {"PATH=" + dir_ + "/a:" + dir_ + "/b", "X=x"}, dir_);
  EXPECT_FALSE(o.returned);
  EXPECT_EQ(o.out, dir_ + "/b/tool|one|two|x|" + dir_ + "\n");  // $0: the script's path, as the kernel gives it
}

TEST_F(ExecLikeSh, ArgvZeroIsTheWordAndEnvGetsPwdAsDashExportsIt) {
  ASSERT_EQ(::symlink("/usr/bin/env", (dir_ + "/showenv").c_str()), 0);
  auto lines = [](const std::string& s) {
    Words out;
    size_t pos = 0, nl;
    while ((nl = s.find('\n', pos)) != std::string::npos) out.push_back(s.substr(pos, nl - pos)), pos = nl + 1;
    std::sort(out.begin(), out.end());
    return out;
  };
  std::string path = "PATH=" + dir_;
  // No PWD: the physical current directory.
  auto o = run({"showenv"}, {path, "A=1"}, dir_);
  EXPECT_EQ(lines(o.out), (Words{"A=1", path, "PWD=" + dir_}));
  // A PWD naming the current directory through a symlink is kept, as dash keeps it.
  make_dir("real");
  ASSERT_EQ(::symlink((dir_ + "/real").c_str(), (dir_ + "/link").c_str()), 0);
  o = run({"showenv"}, {path, "PWD=" + dir_ + "/link"}, dir_ + "/real");
  EXPECT_EQ(lines(o.out), (Words{path, "PWD=" + dir_ + "/link"}));
  // A stale or relative PWD is replaced.
  o = run({"showenv"}, {path, "PWD=/"}, dir_ + "/real");
  EXPECT_EQ(lines(o.out), (Words{path, "PWD=" + dir_ + "/real"}));
  o = run({"showenv"}, {"PWD=real", path}, dir_ + "/real");
  EXPECT_EQ(lines(o.out), (Words{path, "PWD=" + dir_ + "/real"}));
}

TEST_F(ExecLikeSh, GivesUpWhenNothingRuns) {
  std::string path = "PATH=" + dir_;
  EXPECT_TRUE(run({"no-such-command"}, {path}, dir_).returned);
  EXPECT_TRUE(run({dir_ + "/no-such-file"}, {path}, dir_).returned);
  write("plain", "echo not a binary\n", 0644);  // not executable: EACCES everywhere
  EXPECT_TRUE(run({"plain"}, {path}, dir_).returned);
  EXPECT_TRUE(run({}, {path}, dir_).returned);
}

TEST_F(ExecLikeSh, AScriptWithoutInterpreterIsLeftToSh) {
  // sh runs such a file itself (ENOEXEC); a later PATH entry must not run instead.
  make_dir("a");
  make_dir("b");
  write("a/tool", "echo from a\n", 0755);
  write("b/tool", "#!/bin/sh\necho from b\n", 0755);
  auto o = run({"tool"}, {"PATH=" + dir_ + "/a:" + dir_ + "/b"}, dir_);
  EXPECT_TRUE(o.returned);
  EXPECT_EQ(o.out, "");
}

TEST_F(ExecLikeSh, SkipsEntriesItCannotExecLikeSh) {
  // Not executable in the first directory, a directory in the second: the third runs.
  make_dir("a");
  make_dir("b");
  make_dir("b/tool");
  make_dir("c");
  write("a/tool", "#!/bin/sh\necho from a\n", 0644);
  write("c/tool", "#!/bin/sh\necho from c\n", 0755);
  auto o = run({"tool"}, {"PATH=" + dir_ + "/a:" + dir_ + "/b:" + dir_ + "/c"}, dir_);
  EXPECT_FALSE(o.returned);
  EXPECT_EQ(o.out, "from c\n");
}

}  // namespace
