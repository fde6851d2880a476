// LayerStore: dedup, verification, concurrent puts, crash leftovers (needs root for chown).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"

namespace cryo::fsimage {
namespace {

using testing::TarBuilder;
using testing::TempDir;

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "layer import preserves ownership: needs root";
    TarBuilder t(layer_tar);
    t.dir("etc");
    t.file("etc/hostname", "sandbox\n");
    t.file("etc/.wh.motd", "");
    t.dir("opt");
    t.file("opt/.wh..wh..opq", "");
  }

  size_t tmp_entries() const {
    return testing::snapshot(tmp / "store/tmp").size();
  }

  TempDir tmp;
  std::string layer_tar = tmp / "layer.tar";
};

TEST_F(Store, PutStoresBlobAndOverlayReadyDir) {
  LayerStore store(tmp / "store");
  std::string digest = store.put_tar(layer_tar);
  EXPECT_EQ(digest, sha256_file(layer_tar));
  EXPECT_TRUE(store.has(digest));
  EXPECT_EQ(store.tar_for(digest), tmp / "store/blobs/sha256/" + digest_hex(digest));
  EXPECT_EQ(store.dir_for(digest), tmp / "store/layers/sha256/" + digest_hex(digest));
  EXPECT_EQ(read_file(store.tar_for(digest)), read_file(layer_tar));
  std::string dir = store.dir_for(digest);
  EXPECT_EQ(read_file(dir + "/etc/hostname"), "sandbox\n");
  struct stat st;
  ASSERT_EQ(::lstat((dir + "/etc/motd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
  char v[4];
  EXPECT_EQ(::getxattr((dir + "/opt").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_TRUE(store.verify(digest));
  EXPECT_EQ(store.list(), std::vector<std::string>{digest});
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, SameLayerStoredOnce) {
  LayerStore store(tmp / "store");
  std::string d1 = store.put_tar(layer_tar);
  struct stat a;
  ASSERT_EQ(::stat(store.dir_for(d1).c_str(), &a), 0);
  // A copy of the same bytes elsewhere is the same layer.
  testing::write_text(tmp / "copy.tar", read_file(layer_tar));
  std::string d2 = store.put_tar(tmp / "copy.tar", d1);
  EXPECT_EQ(d1, d2);
  struct stat b;
  ASSERT_EQ(::stat(store.dir_for(d2).c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // not re-extracted
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, ConcurrentPutsOfOneDigestAllSucceed) {
  LayerStore store(tmp / "store");
  std::vector<std::string> digests(4);
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      try {
        digests[i] = store.put_tar(layer_tar);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(errors[i], "");
    EXPECT_EQ(digests[i], digests[0]);
  }
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_EQ(read_file(store.dir_for(digests[0]) + "/etc/hostname"), "sandbox\n");
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, WrongExpectedDigestRefused) {
  LayerStore store(tmp / "store");
  std::string wrong = "sha256:" + std::string(64, '0');
  try {
    store.put_tar(layer_tar, wrong);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(wrong), std::string::npos) << e.what();
  }
  EXPECT_FALSE(store.has(wrong));
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, TamperedBlobFailsVerification) {
  LayerStore store(tmp / "store");
  std::string digest = store.put_tar(layer_tar);
  ASSERT_TRUE(store.verify(digest));
  std::string blob = store.tar_for(digest);
  std::string data = read_file(blob);
  data[600] ^= 1;
  testing::write_text(blob, data);
  EXPECT_FALSE(store.verify(digest));
  ASSERT_EQ(::unlink(blob.c_str()), 0);
  EXPECT_FALSE(store.verify(digest));
  EXPECT_FALSE(store.has(digest));
}

TEST_F(Store, InvalidDigestsRejected) {
  LayerStore store(tmp / "store");
  for (const std::string bad : {"sha256:abc", "sha256:../../etc", "md5:00", ""}) {
    EXPECT_THROW(store.has(bad), Error) << bad;
    EXPECT_THROW(store.dir_for(bad), Error) << bad;
    EXPECT_THROW(store.verify(bad), Error) << bad;
    EXPECT_THROW(store.remove(bad), Error) << bad;
  }
  EXPECT_THROW(store.put_tar(layer_tar, "sha256:XYZ"), Error);
  std::string absent = "sha256:" + std::string(64, 'b');
  try {
    store.dir_for(absent);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not in the store"), std::string::npos);
  }
}

TEST_F(Store, RemoveDeletesBoth) {
  LayerStore store(tmp / "store");
  std::string digest = store.put_tar(layer_tar);
  std::string dir = store.dir_for(digest), blob = store.tar_for(digest);
  store.remove(digest);
  EXPECT_FALSE(store.has(digest));
  EXPECT_FALSE(path_exists(dir));
  EXPECT_FALSE(path_exists(blob));
  EXPECT_NO_THROW(store.remove(digest));  // idempotent
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, PruneRemovesOnlyWhatIsNotLive) {
  LayerStore store(tmp / "store");
  std::string kept = store.put_tar(layer_tar);
  {
    TarBuilder t(tmp / "other.tar");
    t.file("other", "x");
  }
  std::string dropped = store.put_tar(tmp / "other.tar");
  std::string dropped_dir = store.dir_for(dropped);
  EXPECT_EQ(store.prune({kept}), std::vector<std::string>{dropped});
  EXPECT_TRUE(store.has(kept));
  EXPECT_FALSE(path_exists(dropped_dir));
  EXPECT_EQ(store.list(), std::vector<std::string>{kept});
  EXPECT_TRUE(store.prune({kept}).empty());  // nothing more to do
  EXPECT_EQ(tmp_entries(), 0u);
}

// A blob whose extraction never finished (a crash) is no layer list() reports, yet pruning takes it.
TEST_F(Store, PruneTakesHalfStoredLayers) {
  LayerStore store(tmp / "store");
  std::string digest = store.put_tar(layer_tar);
  remove_tree(store.dir_for(digest));
  ASSERT_TRUE(store.list().empty());
  std::string orphan_blob = tmp / ("store/blobs/sha256/" + digest_hex(digest));
  ASSERT_TRUE(path_exists(orphan_blob));
  write_file_atomic(tmp / "store/blobs/sha256/not-a-digest", "x");
  EXPECT_EQ(store.prune({}), std::vector<std::string>{digest});
  EXPECT_FALSE(path_exists(orphan_blob));
  EXPECT_TRUE(path_exists(tmp / "store/blobs/sha256/not-a-digest"));  // not a name the store gives
}

TEST_F(Store, HostileLayerLeavesNothing) {
  LayerStore store(tmp / "store");
  {
    TarBuilder t(tmp / "bad.tar");
    t.file("ok", "x");
    t.symlink("evil", tmp.path());
    t.file("evil/pwned", "x");
  }
  EXPECT_THROW(store.put_tar(tmp / "bad.tar"), Error);
  EXPECT_FALSE(path_exists(tmp / "pwned"));
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(tmp_entries(), 0u);
}

TEST_F(Store, GzipLayer) {
  LayerStore store(tmp / "store");
  {
    TarBuilder t(tmp / "layer.tar.gz", /*gzip=*/true);
    t.file("hello", "compressed");
  }
  std::string digest = store.put_tar(tmp / "layer.tar.gz");
  EXPECT_EQ(digest, sha256_file(tmp / "layer.tar.gz"));  // the blob's own digest
  EXPECT_EQ(read_file(store.dir_for(digest) + "/hello"), "compressed");
}

TEST_F(Store, CrashLeftoversCleanedOnOpen) {
  { LayerStore store(tmp / "store"); }
  // A half-extracted layer of a process that no longer exists, and one of a live process.
  std::string dead = tmp / "store/tmp/4194300-0-layer";
  std::string live = tmp / ("store/tmp/" + std::to_string(::getpid()) + "-99-layer");
  make_dirs(dead + "/etc");
  make_dirs(live);
  LayerStore store(tmp / "store");
  EXPECT_FALSE(path_exists(dead));
  EXPECT_TRUE(path_exists(live));
  EXPECT_TRUE(store.list().empty());
}

}  // namespace
}  // namespace cryo::fsimage
