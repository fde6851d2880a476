#include <gtest/gtest.h>

#include "oci/state.h"

using namespace cryo::oci;

TEST(State, JsonShape) {
  State s;
  s.id = "c1";
  s.status = Status::Running;
  s.pid = 42;
  s.bundle = "/b";
  s.annotations["k"] = "v";
  auto j = state_json(s);
  EXPECT_EQ(j["id"], "c1");
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["pid"], 42);
  EXPECT_EQ(j["bundle"], "/b");
  EXPECT_EQ(j["annotations"]["k"], "v");
  s.status = Status::Stopped;
  EXPECT_FALSE(state_json(s).contains("pid"));
}

TEST(State, StatusNamesRoundTrip) {
  for (auto st : {Status::Creating, Status::Created, Status::Running, Status::Paused, Status::Stopped})
    EXPECT_EQ(parse_status(status_name(st)), st);
  EXPECT_FALSE(parse_status("zombie"));
}
