// Overlay mounts and the diff round trip through real overlayfs (needs root).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"

namespace cryo::fsimage {
namespace {

using testing::TempDir;
using testing::write_text;

void set_mtime(const std::string& path, time_t s, long ns) {
  struct timespec ts[2] = {{s, ns}, {s, ns}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

bool is_mounted(const std::string& path) {
  std::string info = read_file("/proc/self/mountinfo");
  return info.find(" " + path + " ") != std::string::npos;
}

class RoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for overlayfs";
    lower = tmp.mkdir("lower");
    upper = tmp.mkdir("upper");
    work = tmp.mkdir("work");
    merged = tmp.mkdir("merged");
    make_base();
  }

  void make_base() {
    write_text(lower + "/a.txt", "base a");
    write_text(lower + "/keep.txt", "keep");
    write_text(lower + "/del.txt", "delete me");
    make_dirs(lower + "/dir1");
    write_text(lower + "/dir1/x", "x");
    write_text(lower + "/dir1/y", "y");
    make_dirs(lower + "/dir2/sub");
    write_text(lower + "/dir2/p", "p");
    write_text(lower + "/dir2/sub/q", "q");
    make_dirs(lower + "/deldir");
    write_text(lower + "/deldir/f", "f");
    ASSERT_EQ(::symlink("keep.txt", (lower + "/link_to_keep").c_str()), 0);
  }

  // Changes made through the overlay, the way a sandbox would make them.
  void change_through_overlay(const std::string& m) {
    write_text(m + "/a.txt", "modified a");
    set_mtime(m + "/a.txt", 1000000000, 123456789);
    write_text(m + "/new.txt", "new", 0600);
    ASSERT_EQ(::chown((m + "/new.txt").c_str(), 1234, 5678), 0);
    ASSERT_EQ(::setxattr((m + "/new.txt").c_str(), "user.test", "hello", 5, 0), 0);
    ASSERT_EQ(::setxattr((m + "/new.txt").c_str(), "trusted.custom", "t", 1, 0), 0);
    write_text(m + "/setuid", "#!", 0755);
    ASSERT_EQ(::chmod((m + "/setuid").c_str(), 04755), 0);
    ASSERT_EQ(::chmod((m + "/keep.txt").c_str(), 0600), 0);  // metadata-only copy-up
    ASSERT_EQ(::unlink((m + "/del.txt").c_str()), 0);
    ASSERT_EQ(::unlink((m + "/dir1/x").c_str()), 0);
    remove_tree(m + "/dir2");  // then recreate: overlayfs makes it opaque
    make_dirs(m + "/dir2");
    write_text(m + "/dir2/fresh", "fresh");
    remove_tree(m + "/deldir");
    write_text(m + "/hl1", "linked");
    ASSERT_EQ(::link((m + "/hl1").c_str(), (m + "/hl2").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/passwd", (m + "/abs_link").c_str()), 0);
    ASSERT_EQ(::mkfifo((m + "/fifo").c_str(), 0640), 0);
    make_dirs(m + "/newdir/deep");
    write_text(m + "/newdir/deep/file", std::string(100000, 'z'));
    ASSERT_EQ(::chmod((m + "/newdir/deep").c_str(), 0750), 0);
    write_text(m + "/we,ird:name \\x", "odd");
    write_text(m + "/na\xc3\xafve.txt", "utf8");
    write_text(m + "/" + std::string(150, 'L'), "long name");
    set_mtime(m + "/newdir", 1500000000, 42);
  }

  TempDir tmp;
  std::string lower, upper, work, merged;
};

TEST_F(RoundTrip, MountWritesGoToUpperAndUnmountOnScopeExit) {
  {
    OverlayMount mnt({{lower}, upper, work}, merged);
    EXPECT_TRUE(is_mounted(merged));
    EXPECT_EQ(read_file(merged + "/keep.txt"), "keep");
    write_text(merged + "/created", "c");
    EXPECT_EQ(read_file(upper + "/created"), "c");
    EXPECT_FALSE(path_exists(lower + "/created"));
  }
  EXPECT_FALSE(is_mounted(merged));
  // release() keeps it mounted; the caller owns it then.
  std::string target;
  {
    OverlayMount mnt({{lower}, upper, work}, merged);
    target = mnt.release();
  }
  EXPECT_TRUE(is_mounted(target));
  ASSERT_EQ(::umount2(target.c_str(), MNT_DETACH), 0);
}

TEST_F(RoundTrip, MountPathsWithCommasAndColons) {
  std::string odd_lower = tmp.mkdir("low,er:1");
  write_text(odd_lower + "/f", "odd");
  OverlayMount mnt({{odd_lower, lower}, tmp.mkdir("up:per"), tmp.mkdir("wo,rk")}, merged);
  EXPECT_EQ(read_file(merged + "/f"), "odd");
  EXPECT_EQ(read_file(merged + "/keep.txt"), "keep");
}

TEST_F(RoundTrip, MountFailureNamesTarget) {
  try {
    OverlayMount mnt({{tmp / "missing"}, upper, work}, merged);
    FAIL();
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find(merged), std::string::npos) << e.what();
  }
}

TEST_F(RoundTrip, ExportImportReproducesMergedView) {
  std::map<std::string, testing::Node> original;
  {
    OverlayMount mnt({{lower}, upper, work}, merged);
    change_through_overlay(merged);
    original = testing::snapshot(merged);
  }
  // The view under test holds what the changes should have produced.
  ASSERT_FALSE(original.count("del.txt"));
  ASSERT_FALSE(original.count("dir2/p"));
  ASSERT_FALSE(original.count("deldir"));
  ASSERT_TRUE(original.count("dir1/y") && original.count("na\xc3\xafve.txt"));
  ASSERT_EQ(original["a.txt"].mtime_ns, 123456789);
  ASSERT_EQ(original["new.txt"].xattrs.at("user.test"), "hello");
  ASSERT_EQ(original["new.txt"].xattrs.at("trusted.custom"), "t");
  ASSERT_EQ(original["new.txt"].uid, 1234u);
  ASSERT_EQ(original["hl2"].link_group, "hl1");
  ASSERT_EQ(original["setuid"].mode & 07777, 04755u);
  // Sanity: the overlay really produced whiteouts and an opaque dir for the exporter to see.
  struct stat st;
  ASSERT_EQ(::lstat((upper + "/del.txt").c_str(), &st), 0);
  ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
  char v[8];
  ASSERT_EQ(::getxattr((upper + "/dir2").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);

  LayerInfo info = export_diff(upper, tmp / "layer.tar");
  EXPECT_EQ(info.digest, sha256_file(tmp / "layer.tar"));
  struct stat tar_st;
  ASSERT_EQ(::stat((tmp / "layer.tar").c_str(), &tar_st), 0);
  EXPECT_EQ(info.size, static_cast<uint64_t>(tar_st.st_size));

  // Overlay-ready import, stacked on the base: must look exactly like the original view.
  std::string layer = tmp.mkdir("layer");
  import_layer(tmp / "layer.tar", layer, {.overlay_whiteouts = true});
  ASSERT_EQ(::lstat((layer + "/del.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
  EXPECT_EQ(::getxattr((layer + "/dir2").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  {
    std::string merged2 = tmp.mkdir("merged2");
    OverlayMount mnt({{layer, lower}, "", ""}, merged2, MS_RDONLY);
    std::string d = testing::diff(original, testing::snapshot(merged2));
    EXPECT_EQ(d, "") << d;
  }

  // Flattened: base applied, then the layer with whiteouts applied as deletions.
  std::string flat = tmp.mkdir("flat");
  export_diff(lower, tmp / "base.tar");
  import_layer(tmp / "base.tar", flat, {.overlay_whiteouts = false});
  import_layer(tmp / "layer.tar", flat, {.overlay_whiteouts = false});
  std::string d = testing::diff(original, testing::snapshot(flat));
  EXPECT_EQ(d, "") << d;
}

TEST_F(RoundTrip, ExportIsDeterministic) {
  {
    OverlayMount mnt({{lower}, upper, work}, merged);
    change_through_overlay(merged);
  }
  LayerInfo a = export_diff(upper, tmp / "a.tar");
  LayerInfo b = export_diff(upper, tmp / "b.tar");
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(read_file(tmp / "a.tar"), read_file(tmp / "b.tar"));
}

TEST_F(RoundTrip, ExportReplacesOutputAtomically) {
  write_text(tmp / "out.tar", "old");
  write_text(upper + "/f", "x");
  export_diff(upper, tmp / "out.tar");
  EXPECT_NE(read_file(tmp / "out.tar"), "old");
  // No temp files left next to it.
  int count = 0;
  for (const auto& [path, node] : testing::snapshot(tmp.path())) {
    (void)node;
    if (path.find("out.tar.tmp") != std::string::npos) ++count;
  }
  EXPECT_EQ(count, 0);
  // A failed export leaves the previous file alone.
  EXPECT_THROW(export_diff(tmp / "missing", tmp / "out.tar"), Error);
  EXPECT_NE(read_file(tmp / "out.tar"), "old");
}

TEST_F(RoundTrip, ExportRefusesRedirectDirs) {
  make_dirs(upper + "/moved");
  ASSERT_EQ(::setxattr((upper + "/moved").c_str(), "trusted.overlay.redirect", "/dir1", 5, 0), 0);
  try {
    export_diff(upper, tmp / "out.tar");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("redirect"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(path_exists(tmp / "out.tar"));
}

TEST_F(RoundTrip, XattrsOnSymlinksAndFifosSurvive) {
  ASSERT_EQ(::symlink("/nowhere", (upper + "/sl").c_str()), 0);
  ASSERT_EQ(::lsetxattr((upper + "/sl").c_str(), "trusted.label", "s", 1, 0), 0);
  ASSERT_EQ(::mkfifo((upper + "/ff").c_str(), 0600), 0);
  ASSERT_EQ(::lsetxattr((upper + "/ff").c_str(), "trusted.label", "f", 1, 0), 0);
  export_diff(upper, tmp / "x.tar");
  std::string layer = tmp.mkdir("layer");
  import_layer(tmp / "x.tar", layer);
  auto snap = testing::snapshot(layer);
  EXPECT_EQ(snap["sl"].xattrs.at("trusted.label"), "s");
  EXPECT_EQ(snap["sl"].data, "/nowhere");
  EXPECT_EQ(snap["ff"].xattrs.at("trusted.label"), "f");
  EXPECT_TRUE(S_ISFIFO(snap["ff"].mode));
}

TEST_F(RoundTrip, OverlayXattrsInLayerAreEscapedNotObeyed) {
  // A tar carrying trusted.overlay.opaque must not make the directory opaque.
  std::string tar = tmp / "t.tar";
  {
    struct archive* a = archive_write_new();
    archive_write_set_format_pax(a);
    archive_write_open_filename(a, tar.c_str());
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "dir1");
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
    archive_write_header(a, e);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
  }
  std::string layer = tmp.mkdir("layer");
  import_layer(tar, layer);
  char v[8];
  EXPECT_LT(::getxattr((layer + "/dir1").c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
  EXPECT_EQ(::getxattr((layer + "/dir1").c_str(), "trusted.overlay.overlay.opaque", v, sizeof v), 1);
  OverlayMount mnt({{layer, lower}, "", ""}, merged, MS_RDONLY);
  EXPECT_EQ(read_file(merged + "/dir1/x"), "x");  // still visible: not opaque
  // And exporting the escaped form gives back the user-visible name.
  export_diff(layer, tmp / "again.tar");
  std::string layer2 = tmp.mkdir("layer2");
  import_layer(tmp / "again.tar", layer2);
  EXPECT_EQ(::getxattr((layer2 + "/dir1").c_str(), "trusted.overlay.overlay.opaque", v, sizeof v), 1);
}

}  // namespace
}  // namespace cryo::fsimage
