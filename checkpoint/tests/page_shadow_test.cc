#include "checkpoint/page_shadow.h"

#include <gtest/gtest.h>

namespace cryo::checkpoint {
namespace {

constexpr uint64_t kPage = 4096;

TEST(PageShadow, FindsHeldAndMissingRuns) {
  static char buf[8 * kPage];
  PageShadow s;
  s.add(7, 0x10000, 4, buf);
  s.add(7, 0x10000 + 4 * kPage, 2, buf + 4 * kPage);  // continues the first: one extent
  EXPECT_EQ(s.extents(7).size(), 1u);
  EXPECT_EQ(s.find(7, 0x10000 + kPage, 100), std::make_pair(buf + kPage, uint64_t{5}));
  EXPECT_EQ(s.find(7, 0x8000, 100), std::make_pair(static_cast<char*>(nullptr), uint64_t{8}));
  EXPECT_EQ(s.find(7, 0x40000, 3), std::make_pair(static_cast<char*>(nullptr), uint64_t{3}));
  EXPECT_EQ(s.find(8, 0x10000, 3).first, nullptr);  // another task
  EXPECT_EQ(s.pages(), 6u);
}

TEST(PageShadow, DropSplitsExtents) {
  static char buf[8 * kPage];
  PageShadow s;
  s.add(1, 0x10000, 8, buf);
  s.drop(1, 0x10000 + 2 * kPage, 0x10000 + 3 * kPage);
  EXPECT_EQ(s.pages(), 7u);
  EXPECT_EQ(s.find(1, 0x10000, 8), std::make_pair(buf, uint64_t{2}));
  EXPECT_EQ(s.find(1, 0x10000 + 2 * kPage, 8), std::make_pair(static_cast<char*>(nullptr), uint64_t{1}));
  EXPECT_EQ(s.find(1, 0x10000 + 3 * kPage, 8), std::make_pair(buf + 3 * kPage, uint64_t{5}));
  s.drop(1, 0, 0x100000);
  EXPECT_EQ(s.pages(), 0u);
}

}  // namespace
}  // namespace cryo::checkpoint
