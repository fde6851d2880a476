#include "runtime/cli/args.h"

#include <gtest/gtest.h>

namespace cryo::cli {
namespace {

using Strings = std::vector<std::string>;

// The shape of `cryo run`'s flags.
po::options_description run_options() {
  po::options_description d("run");
  d.add_options()("bundle,b", po::value<std::string>()->default_value("."), "")(
      "console-socket", po::value<std::string>(), "")("pid-file", po::value<std::string>(), "")(
      "detach,d", po::bool_switch(), "")("no-subreaper", po::bool_switch(), "")(
      "preserve-fds", po::value<int>()->default_value(0), "")("keep", po::bool_switch(), "");
  return d;
}

// The shape of `cryo exec`'s flags.
po::options_description exec_options() {
  po::options_description d("exec");
  d.add_options()("env,e", po::value<Strings>()->composing(), "")("cwd", po::value<std::string>(), "")(
      "user,u", po::value<std::string>(), "")("tty,t", po::bool_switch(), "")("detach,d", po::bool_switch(), "");
  return d;
}

// The global flags that come before the command.
po::options_description global_options() {
  po::options_description d("global");
  d.add_options()("root", po::value<std::string>()->default_value("/run/cryo"), "")(
      "log", po::value<std::string>(), "")("log-format", po::value<std::string>(), "")("debug", po::bool_switch(), "");
  return d;
}

po::variables_map parsed(const SplitArgs& s, const po::options_description& d) {
  po::variables_map vm;
  parse_options(s, d, vm);
  return vm;
}

TEST(SplitArgs, GoStyleSingleDashLongFlags) {
  SplitArgs s = split_args({"-no-subreaper", "-bundle", "/x", "c1"}, run_options());
  EXPECT_EQ(s.options, (Strings{"--no-subreaper", "--bundle", "/x"}));
  EXPECT_EQ(s.positional, Strings{"c1"});
  auto vm = parsed(s, run_options());
  EXPECT_TRUE(vm["no-subreaper"].as<bool>());
  EXPECT_EQ(vm["bundle"].as<std::string>(), "/x");
}

TEST(SplitArgs, DoubleDashLongFlagsWithEquals) {
  SplitArgs s = split_args({"--bundle=/x", "--pid-file=/p", "c1"}, run_options());
  EXPECT_EQ(s.positional, Strings{"c1"});
  auto vm = parsed(s, run_options());
  EXPECT_EQ(vm["bundle"].as<std::string>(), "/x");
  EXPECT_EQ(vm["pid-file"].as<std::string>(), "/p");
}

TEST(SplitArgs, GoStyleWithEquals) {
  auto vm = parsed(split_args({"-bundle=/y", "c1"}, run_options()), run_options());
  EXPECT_EQ(vm["bundle"].as<std::string>(), "/y");
}

TEST(SplitArgs, ShortFlags) {
  SplitArgs s = split_args({"-b", "/x", "-d", "c1"}, run_options());
  EXPECT_EQ(s.positional, Strings{"c1"});
  auto vm = parsed(s, run_options());
  EXPECT_EQ(vm["bundle"].as<std::string>(), "/x");
  EXPECT_TRUE(vm["detach"].as<bool>());
}

TEST(SplitArgs, OptionsStopAtTheFirstPositional) {
  SplitArgs s = split_args({"c1", "--bundle", "/x"}, run_options());
  EXPECT_TRUE(s.options.empty());
  EXPECT_EQ(s.positional, (Strings{"c1", "--bundle", "/x"}));
}

TEST(SplitArgs, ExecKeepsTheCommandsOwnFlags) {
  SplitArgs s = split_args({"c1", "ls", "-la"}, exec_options());
  EXPECT_TRUE(s.options.empty());
  EXPECT_EQ(s.positional, (Strings{"c1", "ls", "-la"}));
}

TEST(SplitArgs, ExecFlagsBeforeTheId) {
  SplitArgs s = split_args({"-e", "A=1", "--env", "B=2", "--cwd", "/tmp", "-u", "1000", "c1", "sh", "-c", "echo -e x"},
                           exec_options());
  EXPECT_EQ(s.positional, (Strings{"c1", "sh", "-c", "echo -e x"}));
  auto vm = parsed(s, exec_options());
  EXPECT_EQ(vm["env"].as<Strings>(), (Strings{"A=1", "B=2"}));
  EXPECT_EQ(vm["cwd"].as<std::string>(), "/tmp");
  EXPECT_EQ(vm["user"].as<std::string>(), "1000");
}

TEST(SplitArgs, ValueThatLooksLikeAFlagIsAValue) {
  SplitArgs s = split_args({"--cwd", "-weird", "c1", "true"}, exec_options());
  EXPECT_EQ(s.positional, (Strings{"c1", "true"}));
  EXPECT_EQ(parsed(s, exec_options())["cwd"].as<std::string>(), "-weird");
}

TEST(SplitArgs, DoubleDashEndsOptions) {
  SplitArgs s = split_args({"-d", "--", "-c1"}, run_options());
  EXPECT_EQ(s.options, Strings{"-d"});
  EXPECT_EQ(s.positional, Strings{"-c1"});
}

TEST(SplitArgs, GlobalFlagsBeforeTheCommand) {
  SplitArgs s = split_args({"--root", "/r", "-log-format", "json", "run", "-b", "/x", "c1"}, global_options());
  EXPECT_EQ(s.positional, (Strings{"run", "-b", "/x", "c1"}));
  auto vm = parsed(s, global_options());
  EXPECT_EQ(vm["root"].as<std::string>(), "/r");
  EXPECT_EQ(vm["log-format"].as<std::string>(), "json");
}

TEST(SplitArgs, GoStyleRoot) {
  auto vm = parsed(split_args({"-root", "/r", "list"}, global_options()), global_options());
  EXPECT_EQ(vm["root"].as<std::string>(), "/r");
}

TEST(SplitArgs, NoArguments) {
  SplitArgs s = split_args({}, run_options());
  EXPECT_TRUE(s.options.empty());
  EXPECT_TRUE(s.positional.empty());
}

TEST(SplitArgs, LoneDashIsPositional) {
  SplitArgs s = split_args({"-"}, run_options());
  EXPECT_EQ(s.positional, Strings{"-"});
}

TEST(ParseOptions, UnknownFlagIsNamed) {
  try {
    parsed(split_args({"--bogus", "c1"}, run_options()), run_options());
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos) << e.what();
  }
}

TEST(ParseOptions, NoGuessingOfAbbreviations) {
  EXPECT_THROW(parsed(split_args({"--bund", "/x", "c1"}, run_options()), run_options()), std::exception);
}

TEST(ParseOptions, RepeatedSwitchIsAccepted) {
  // podman passes --leave-running twice; Go's flag package takes the last one.
  auto vm = parsed(split_args({"--detach", "-detach", "c1"}, run_options()), run_options());
  EXPECT_TRUE(vm["detach"].as<bool>());
}

TEST(ParseOptions, RepeatedValueFlagTakesTheLast) {
  auto vm = parsed(split_args({"--bundle", "/a", "--bundle", "/b", "c1"}, run_options()), run_options());
  EXPECT_EQ(vm["bundle"].as<std::string>(), "/b");
}

TEST(ParseOptions, MissingValueIsAnError) {
  EXPECT_THROW(parsed(split_args({"--bundle"}, run_options()), run_options()), std::exception);
}

}  // namespace
}  // namespace cryo::cli
