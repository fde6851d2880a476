#include <gtest/gtest.h>

#include "checkpoint/criu_log.h"

namespace cryo::checkpoint {
namespace {

TEST(CriuLog, QuotesErrorsAndTailSkippingRlimit) {
  std::string log;
  log += "(00.000001) Error (criu/util.c:600): rlimit: Can't setup RLIMIT_NOFILE for self\n";
  log += "(00.000002) Version: 4.2.1\n";
  log += "(00.000003) Error (criu/cr-dump.c:1): Can't seize 999: No such process\n";
  for (int i = 0; i < 30; ++i) log += "(00.1) line " + std::to_string(i) + "\n";
  std::string ex = log_excerpt(log, 10, 3);
  EXPECT_EQ(ex.find("RLIMIT_NOFILE"), std::string::npos) << ex;
  EXPECT_NE(ex.find("Can't seize 999"), std::string::npos) << ex;
  EXPECT_NE(ex.find("line 29"), std::string::npos);
  EXPECT_NE(ex.find("line 27"), std::string::npos);
  EXPECT_EQ(ex.find("line 26"), std::string::npos);
  EXPECT_NE(ex.find("  ...\n"), std::string::npos);
  EXPECT_LT(ex.find("Can't seize"), ex.find("line 27"));  // file order
}

TEST(CriuLog, TailDoesNotRepeatErrors) {
  std::string log = "a\nError one\nb\n";
  EXPECT_EQ(log_excerpt(log, 10, 10), "  a\n  Error one\n  b\n");
  EXPECT_EQ(log_excerpt("Error x\nb\nc\nd\n", 10, 1), "  Error x\n  ...\n  d\n");
  EXPECT_EQ(log_excerpt("x Can't setup RLIMIT_NOFILE for self\nb\n", 10, 10), "  ...\n  b\n");
  EXPECT_EQ(log_excerpt(""), "");
}

TEST(CriuLog, LimitsErrorLines) {
  std::string log;
  for (int i = 0; i < 50; ++i) log += "Error " + std::to_string(i) + "\n";
  std::string ex = log_excerpt(log, 5, 0);
  EXPECT_NE(ex.find("Error 4\n"), std::string::npos);
  EXPECT_EQ(ex.find("Error 5\n"), std::string::npos);
}

TEST(CriuLog, UsefulErrmsgDropsRlimit) {
  EXPECT_EQ(useful_errmsg("Error (criu/util.c:1): rlimit: Can't setup RLIMIT_NOFILE for self"), "");
  EXPECT_EQ(useful_errmsg("Can't seize"), "Can't seize");
}

TEST(CriuLog, ReadLogMissingIsNullopt) {
  EXPECT_FALSE(read_log(-1, "/nonexistent/dir/x.log").has_value());
}

}  // namespace
}  // namespace cryo::checkpoint
