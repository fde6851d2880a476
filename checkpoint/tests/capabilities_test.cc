#include <gtest/gtest.h>

#include "checkpoint/criu.h"

namespace cryo::checkpoint {
namespace {

CriuCapabilities caps(bool mem_track, bool lazy) {
  CriuCapabilities c;
  c.version = {4, 2, 1, ""};
  c.features = {mem_track, lazy, true};
  return c;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Capabilities, PlainDumpAlwaysSupported) {
  DumpOptions o;
  o.leave_running = true;
  EXPECT_NO_THROW(check_supported(o, caps(false, false)));
}

TEST(Capabilities, PreDumpNeedsDirtyTracking) {
  DumpOptions o;
  std::string e = error_of([&] { check_supported(o, caps(false, true), DumpKind::PreDump); });
  EXPECT_NE(e.find("pre-dump"), std::string::npos) << e;
  EXPECT_NE(e.find("dirty memory tracking"), std::string::npos) << e;
  EXPECT_NO_THROW(check_supported(o, caps(true, true), DumpKind::PreDump));
}

TEST(Capabilities, TrackMemAndParentNeedDirtyTracking) {
  DumpOptions o;
  o.track_mem = true;
  EXPECT_THROW(check_supported(o, caps(false, true)), Error);
  o.track_mem = false;
  o.parent_image = "../pre";
  EXPECT_NE(error_of([&] { check_supported(o, caps(false, true)); }).find("../pre"),
            std::string::npos);
  EXPECT_NO_THROW(check_supported(o, caps(true, false)));
}

TEST(Capabilities, LazyPagesNeedUserfaultfd) {
  DumpOptions d;
  d.lazy_pages = true;
  EXPECT_NE(error_of([&] { check_supported(d, caps(true, false)); }).find("userfaultfd"),
            std::string::npos);
  RestoreOptions r;
  r.lazy_pages = true;
  EXPECT_THROW(check_supported(r, caps(true, false)), Error);
  EXPECT_NO_THROW(check_supported(r, caps(false, true)));
}

TEST(Capabilities, OldVersionRefused) {
  CriuCapabilities c = caps(true, true);
  c.version = {4, 1, 1, ""};
  DumpOptions o;
  EXPECT_NE(error_of([&] { check_supported(o, c); }).find("too old"), std::string::npos);
}

}  // namespace
}  // namespace cryo::checkpoint
