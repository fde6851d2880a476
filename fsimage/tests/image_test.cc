// Image import from OCI layouts and docker-save archives built by the test (needs root).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/tests/test_util.h"

namespace cryo::fsimage {
namespace {

using nlohmann::json;
using testing::TarBuilder;
using testing::TempDir;

class Image : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (ownership, overlayfs)";
    {
      TarBuilder t(tmp / "l1.tar.gz", /*gzip=*/true);
      t.dir("bin");
      t.file("bin/hello", "#!/bin/sh\necho hi\n", 0755);
      t.file("etc/motd", "welcome");
    }
    {
      TarBuilder t(tmp / "l2.tar");
      t.file("etc/.wh.motd", "");
      t.file("etc/added", "second layer");
    }
    l1 = sha256_file(tmp / "l1.tar.gz");
    l2 = sha256_file(tmp / "l2.tar");
    config = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config",
               {{"Env", {"PATH=/bin", "A=b"}},
                {"Cmd", {"/bin/hello"}},
                {"Entrypoint", nullptr},
                {"WorkingDir", "/work"},
                {"User", "1000:1000"}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + std::string(64, '1'), l2}}}}};
  }

  // Writes `data` as a blob of the layout at `dir`; returns its digest.
  std::string put_blob(const std::string& dir, const std::string& data) {
    std::string digest = sha256_bytes(data);
    make_dirs(dir + "/blobs/sha256");
    testing::write_text(dir + "/blobs/sha256/" + digest_hex(digest), data);
    return digest;
  }

  std::string make_layout() {
    std::string dir = tmp.mkdir("layout");
    put_blob(dir, read_file(tmp / "l1.tar.gz"));
    put_blob(dir, read_file(tmp / "l2.tar"));
    std::string cfg = put_blob(dir, config.dump());
    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cfg}}},
        {"layers",
         {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", l1}},
          {{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", l2}}}}};
    std::string m = put_blob(dir, manifest.dump());
    json index = {{"schemaVersion", 2},
                  {"manifests",
                   {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"digest", m},
                     {"annotations", {{"org.opencontainers.image.ref.name", "demo:1"}}}}}}};
    testing::write_text(dir + "/index.json", index.dump());
    testing::write_text(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    return dir;
  }

  void expect_demo_image(const ImageRecord& rec, LayerStore& store) {
    EXPECT_EQ(rec.layers, (std::vector<std::string>{l1, l2}));
    EXPECT_EQ(rec.env, (std::vector<std::string>{"PATH=/bin", "A=b"}));
    EXPECT_EQ(rec.cmd, std::vector<std::string>{"/bin/hello"});
    EXPECT_TRUE(rec.entrypoint.empty());
    EXPECT_EQ(rec.working_dir, "/work");
    EXPECT_EQ(rec.user, "1000:1000");
    // The layers stack into the image's filesystem.
    std::string merged = tmp.mkdir("merged");
    OverlayMount mnt({rec.lower_dirs(store), "", ""}, merged, MS_RDONLY);
    EXPECT_EQ(read_file(merged + "/bin/hello"), "#!/bin/sh\necho hi\n");
    EXPECT_EQ(read_file(merged + "/etc/added"), "second layer");
    EXPECT_FALSE(path_exists(merged + "/etc/motd"));
  }

  TempDir tmp;
  std::string l1, l2;
  json config;
};

TEST_F(Image, OciLayoutDirectory) {
  LayerStore store(tmp / "store");
  ImageRecord rec = import_oci_layout(make_layout(), store);
  expect_demo_image(rec, store);
  EXPECT_EQ(import_oci_layout(tmp / "layout", store, "demo:1").layers, rec.layers);
  EXPECT_THROW(import_oci_layout(tmp / "layout", store, "other:2"), Error);
}

TEST_F(Image, OciLayoutTar) {
  std::string dir = make_layout();
  export_diff(dir, tmp / "layout.tar");  // any directory exports as a plain tar
  LayerStore store(tmp / "store");
  expect_demo_image(import_oci_layout(tmp / "layout.tar", store), store);
}

TEST_F(Image, OciLayoutTamperedLayerRefused) {
  std::string dir = make_layout();
  testing::write_text(dir + "/blobs/sha256/" + digest_hex(l2), "not the layer");
  LayerStore store(tmp / "store");
  try {
    import_oci_layout(dir, store);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(l2), std::string::npos) << e.what();
  }
}

TEST_F(Image, OciLayoutBadDigestRefused) {
  std::string dir = make_layout();
  json index = json::parse(read_file(dir + "/index.json"));
  index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd";
  testing::write_text(dir + "/index.json", index.dump());
  LayerStore store(tmp / "store");
  try {
    import_oci_layout(dir, store);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid digest"), std::string::npos) << e.what();
  }
}

TEST_F(Image, DockerArchive) {
  std::string dir = tmp.mkdir("save");
  make_dirs(dir + "/aaa");
  make_dirs(dir + "/bbb");
  testing::write_text(dir + "/aaa/layer.tar", read_file(tmp / "l1.tar.gz"));
  testing::write_text(dir + "/bbb/layer.tar", read_file(tmp / "l2.tar"));
  testing::write_text(dir + "/cfg.json", config.dump());
  json manifest = json::array({{{"Config", "cfg.json"},
                                {"RepoTags", {"demo:1"}},
                                {"Layers", {"aaa/layer.tar", "bbb/layer.tar"}}}});
  testing::write_text(dir + "/manifest.json", manifest.dump());
  export_diff(dir, tmp / "save.tar");
  LayerStore store(tmp / "store");
  ImageRecord rec = import_docker_archive(tmp / "save.tar", store, "demo:1");
  expect_demo_image(rec, store);
  EXPECT_EQ(rec.config_digest, sha256_bytes(config.dump()));
  EXPECT_THROW(import_docker_archive(tmp / "save.tar", store, "nope:0"), Error);
}

TEST_F(Image, DockerArchiveDiffIdMismatchRefused) {
  std::string dir = tmp.mkdir("save");
  testing::write_text(dir + "/l.tar", read_file(tmp / "l2.tar"));
  json cfg = config;
  cfg["rootfs"]["diff_ids"] = {"sha256:" + std::string(64, '2')};
  testing::write_text(dir + "/cfg.json", cfg.dump());
  testing::write_text(dir + "/manifest.json",
                      json::array({{{"Config", "cfg.json"}, {"Layers", {"l.tar"}}}}).dump());
  export_diff(dir, tmp / "save.tar");
  LayerStore store(tmp / "store");
  EXPECT_THROW(import_docker_archive(tmp / "save.tar", store), Error);
}

TEST_F(Image, DockerArchiveSymlinkStaysInside) {
  // docker save links duplicate layers; a link aimed outside resolves inside the archive.
  std::string dir = tmp.mkdir("save");
  testing::write_text(dir + "/cfg.json", json({{"config", json::object()}}).dump());
  ASSERT_EQ(::symlink("/etc", (dir + "/evil").c_str()), 0);
  testing::write_text(dir + "/manifest.json",
                      json::array({{{"Config", "cfg.json"}, {"Layers", {"evil/passwd"}}}}).dump());
  export_diff(dir, tmp / "save.tar");
  LayerStore store(tmp / "store");
  try {
    import_docker_archive(tmp / "save.tar", store);
    FAIL();
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), ENOENT) << e.what();
  }
  EXPECT_TRUE(store.list().empty());
}

}  // namespace
}  // namespace cryo::fsimage
