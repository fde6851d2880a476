// Pure logic: digests, entry path cleaning, overlay option strings. No root needed.
#include <gtest/gtest.h>

#include "base/error.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"

namespace cryo::fsimage {
namespace {

const std::string kHex(64, 'a');

TEST(Digest, AcceptsWellFormed) {
  EXPECT_NO_THROW(validate_digest("sha256:" + kHex));
  EXPECT_EQ(digest_hex("sha256:" + kHex), kHex);
}

TEST(Digest, RejectsMalformedWithClearError) {
  for (const std::string& bad : std::vector<std::string>{"", "sha256:", "sha256:" + kHex.substr(1),
                                "sha256:" + kHex + "0", "sha256:" + std::string(64, 'A'),
                                "sha512:" + kHex, "sha256:" + std::string(63, 'a') + "g",
                                "sha256:../" + std::string(61, 'a'), kHex}) {
    try {
      validate_digest(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid digest"), std::string::npos) << e.what();
    }
  }
}

TEST(Digest, Sha256KnownVectors) {
  EXPECT_EQ(sha256_bytes("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_bytes(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  testing::TempDir tmp;
  testing::write_text(tmp / "f", "abc");
  EXPECT_EQ(sha256_file(tmp / "f"), sha256_bytes("abc"));
}

TEST(EntryPath, Normalizes) {
  EXPECT_EQ(clean_entry_path("a/b"), "a/b");
  EXPECT_EQ(clean_entry_path("./a//b/"), "a/b");
  EXPECT_EQ(clean_entry_path("./"), "");
  EXPECT_EQ(clean_entry_path("."), "");
  EXPECT_EQ(clean_entry_path("a/./b"), "a/b");
  EXPECT_EQ(clean_entry_path("..foo/bar.."), "..foo/bar..");
}

TEST(EntryPath, RefusesEscapes) {
  EXPECT_THROW(clean_entry_path("/etc/passwd"), Error);
  EXPECT_THROW(clean_entry_path("../x"), Error);
  EXPECT_THROW(clean_entry_path("a/../../x"), Error);
  EXPECT_THROW(clean_entry_path("a/.."), Error);
  EXPECT_THROW(clean_entry_path(""), Error);
}

TEST(OverlayData, EscapesSeparators) {
  EXPECT_EQ(escape_overlay_path("/a/b"), "/a/b");
  EXPECT_EQ(escape_overlay_path("/a,b:c\\d"), "/a\\,b\\:c\\\\d");
}

TEST(OverlayData, BuildsOptions) {
  OverlayConfig c;
  c.lowers = {"/l1", "/l:2"};
  c.upper = "/u,p";
  c.work = "/w";
  EXPECT_EQ(overlay_mount_data(c),
            "lowerdir=/l1:/l\\:2,upperdir=/u\\,p,workdir=/w,redirect_dir=off,metacopy=off");
  c.upper.clear();
  c.work.clear();
  c.extra_options.clear();
  EXPECT_EQ(overlay_mount_data(c), "lowerdir=/l1:/l\\:2");
}

TEST(OverlayData, RejectsBadConfigs) {
  OverlayConfig c;
  EXPECT_THROW(overlay_mount_data(c), Error);  // no lowers
  c.lowers = {"/l"};
  c.upper = "/u";
  EXPECT_THROW(overlay_mount_data(c), Error);  // upper without work
  c.work = "/w";
  c.extra_options = {"a,b"};
  EXPECT_THROW(overlay_mount_data(c), Error);
  c.extra_options = {};
  c.lowers = {""};
  EXPECT_THROW(overlay_mount_data(c), Error);
}

TEST(OverlayData, RefusesOptionsOverPageLimit) {
  OverlayConfig c;
  for (int i = 0; i < 200; ++i) c.lowers.push_back("/var/lib/cryo/layers/sha256/" + kHex);
  try {
    overlay_mount_data(c);
    FAIL() << "accepted an overlong option string";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("kernel limit"), std::string::npos) << msg;
    EXPECT_NE(msg.find("200 lower dirs"), std::string::npos) << msg;
  }
  c.lowers.resize(10);
  EXPECT_NO_THROW(overlay_mount_data(c));
  EXPECT_THROW(overlay_mount_data(c, 100), Error);  // an explicit limit is honoured
}

}  // namespace
}  // namespace cryo::fsimage
