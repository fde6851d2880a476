#include "base/text.h"

#include <gtest/gtest.h>

namespace cryo {
namespace {

using V = std::vector<std::string>;

TEST(Text, SplitReadsFieldsAsGetline) {
  EXPECT_EQ(split("root:x:0:0::/root:/bin/sh", ':'), (V{"root", "x", "0", "0", "", "/root", "/bin/sh"}));
  EXPECT_EQ(split("a\nb\n", '\n'), (V{"a", "b"}));  // no field after a trailing separator
  EXPECT_EQ(split(":a", ':'), (V{"", "a"}));
  EXPECT_EQ(split("", ':'), V{});
  EXPECT_EQ(split("a\n\nb", '\n'), (V{"a", "", "b"}));
}

TEST(Text, WordsSkipAnyWhitespace) {
  EXPECT_EQ(words("  12 34\n\t56  "), (V{"12", "34", "56"}));
  EXPECT_EQ(words("cpu memory pids\n"), (V{"cpu", "memory", "pids"}));
  EXPECT_EQ(words(" \n "), V{});
}

}  // namespace
}  // namespace cryo
