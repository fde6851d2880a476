// Imported images and portable snapshots, through the service over the real engine (root):
// an OCI layout and a docker archive made here from the busybox rootfs, sandboxes on them, image
// removal refused while used, and a snapshot exported from one state dir and resumed in another.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "fsimage/fsimage.h"
#include "runtime/checkpoint_image.h"
#include "service/metrics.h"
#include "service/sandbox_service.h"
#include "service/sentry_engine.h"

#ifndef CRYO_SOURCE_DIR
#define CRYO_SOURCE_DIR "."
#endif

namespace cryo::sentry_test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using service::SandboxService;

const std::string kBusybox = std::string(CRYO_SOURCE_DIR) + "/var/rootfs/busybox";

constexpr const char* kStartCounter =
    "mkdir -p /tmp; setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done' "
    "</dev/null >/dev/null 2>&1 &";

std::string hex_of(const std::string& digest) { return digest.substr(7); }

// An OCI image layout at dir with one uncompressed layer made from the busybox rootfs.
void make_oci_layout(const std::string& scratch, const std::string& dir) {
  make_dirs(dir + "/blobs/sha256", 0755);
  auto layer = fsimage::export_diff(kBusybox, scratch + "/layer.tar");
  fs::copy_file(scratch + "/layer.tar", dir + "/blobs/sha256/" + hex_of(layer.digest));
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Env", {"PATH=/bin:/sbin:/usr/bin", "FROM_IMAGE=oci"}}, {"WorkingDir", "/root"},
                             {"Cmd", {"sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.digest}}}}};
  std::string config_text = config.dump();
  std::string config_digest = fsimage::sha256_bytes(config_text);
  write_file_atomic(dir + "/blobs/sha256/" + hex_of(config_digest), config_text);
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", config_digest}, {"size", config_text.size()}}},
                   {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                {"digest", layer.digest}, {"size", layer.size}}}}};
  std::string manifest_text = manifest.dump();
  std::string manifest_digest = fsimage::sha256_bytes(manifest_text);
  write_file_atomic(dir + "/blobs/sha256/" + hex_of(manifest_digest), manifest_text);
  json index = {{"schemaVersion", 2},
                {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"digest", manifest_digest}, {"size", manifest_text.size()},
                                {"annotations", {{"org.opencontainers.image.ref.name", "test"}}}}}}};
  write_file_atomic(dir + "/index.json", index.dump());
  write_file_atomic(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

// A `docker save` archive of the same rootfs.
void make_docker_archive(const std::string& scratch, const std::string& out_tar) {
  std::string dir = scratch + "/docker";
  make_dirs(dir + "/abc", 0755);
  auto layer = fsimage::export_diff(kBusybox, dir + "/abc/layer.tar");
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Env", {"PATH=/bin:/sbin", "FROM_IMAGE=docker"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.digest}}}}};
  write_file_atomic(dir + "/cfg.json", config.dump());
  json manifest = json::array({{{"Config", "cfg.json"}, {"RepoTags", {"busybox:test"}}, {"Layers", {"abc/layer.tar"}}}});
  write_file_atomic(dir + "/manifest.json", manifest.dump());
  std::string cmd = "tar -C '" + dir + "' -cf '" + out_tar + "' manifest.json cfg.json abc";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

class PortableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (real containers)";
    if (!path_exists(kBusybox + "/bin/busybox")) GTEST_SKIP() << "no busybox rootfs: run scripts/make-rootfs.sh";
    char tmpl[] = "/tmp/cryo-portable-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    make_dirs(root_ + "/scratch", 0700);
  }

  void TearDown() override {
    for (auto& [dir, svc] : services_) {
      for (auto& s : svc->list_sandboxes(false)) {
        try {
          svc->kill_sandbox(s.id);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "kill " << s.id << ": " << e.what();
        }
      }
    }
    services_.clear();
    if (!root_.empty()) remove_tree(root_);
  }

  SandboxService& service(const std::string& name) {
    auto& slot = services_[name];
    if (!slot) {
      std::string state = root_ + "/" + name;
      slot = std::make_unique<SandboxService>(state, service::make_sentry_engine(state, {SENTRY_BIN, SANDBOX_INIT_BIN}),
                                              metrics_);
    }
    return *slot;
  }

  static std::string sh(SandboxService& svc, const std::string& id, const std::string& script) {
    service::CommandSpec cmd;
    cmd.argv = {"/bin/sh", "-c", script};
    auto r = svc.run_command(id, cmd);
    EXPECT_EQ(r.exit_code, 0) << script << ": " << r.stderr_data;
    return r.stdout_data;
  }

  static int counter(SandboxService& svc, const std::string& id) {
    service::CommandSpec cmd;
    cmd.argv = {"cat", "/tmp/counter"};
    auto r = svc.run_command(id, cmd);
    return r.stdout_data.empty() ? -1 : std::stoi(r.stdout_data);
  }

  service::SandboxRecord create(SandboxService& svc, const std::string& image, const std::string& snap = "");

  std::string root_;
  service::Metrics metrics_;
  std::map<std::string, std::unique_ptr<SandboxService>> services_;
};

service::SandboxRecord PortableTest::create(SandboxService& svc, const std::string& image, const std::string& snap) {
  service::CreateSandboxRequest req;
  req.spec.image = image;
  req.snapshot_id = snap;
  return svc.create_sandbox(req);
}

std::string bytes_of(const std::string& path) { return read_file(path); }

// Offset of the data of tar member `name` (ustar headers; pax extension headers skipped).
size_t member_data_offset(const std::string& tar, const std::string& name) {
  for (size_t off = 0; off + 512 <= tar.size();) {
    const char* h = tar.data() + off;
    if (h[0] == 0) break;
    std::string member(h, strnlen(h, 100));
    size_t size = std::stoull(std::string(h + 124, 12), nullptr, 8);
    char type = h[156];
    if ((type == '0' || type == 0) && member == name) return off + 512;
    off += 512 + (size + 511) / 512 * 512;
  }
  return std::string::npos;
}

TEST_F(PortableTest, OciLayoutImageRunsAndIsReferenceCounted) {
  auto& svc = service("a");
  std::string layout = root_ + "/scratch/oci";
  make_oci_layout(root_ + "/scratch", layout);
  auto img = svc.import_image(layout, "busybox");
  EXPECT_EQ(img.info.name, "busybox");
  ASSERT_EQ(img.info.layers.size(), 1u);
  EXPECT_EQ(img.info.working_dir, "/root");
  EXPECT_TRUE(path_exists(root_ + "/a/layers/layers/sha256/" + hex_of(img.info.layers[0])));
  EXPECT_THROW(svc.import_image(layout, "busybox"), service::Conflict);
  EXPECT_EQ(svc.list_images().size(), 1u);

  auto sbx = create(svc, "busybox");
  EXPECT_EQ(sbx.image, "busybox");
  // busybox's own userland, the image's env and working dir; the init sits at /.cryo/init.
  EXPECT_EQ(sh(svc, sbx.id, "busybox | head -1 | cut -d' ' -f1"), "BusyBox\n");
  EXPECT_EQ(sh(svc, sbx.id, "echo $FROM_IMAGE; pwd"), "oci\n/root\n");
  EXPECT_EQ(sh(svc, sbx.id, "test -x /.cryo/init && echo ok"), "ok\n");
  EXPECT_EQ(sh(svc, sbx.id, "test -e /usr/bin/python3 || echo no-host-usr"), "no-host-usr\n");

  // In use by a running sandbox: refused. Then by a snapshot: still refused.
  EXPECT_THROW(svc.delete_image("busybox"), service::Conflict);
  auto snap = svc.create_snapshot(sbx.id);
  EXPECT_EQ(snap.image, "busybox");
  svc.kill_sandbox(sbx.id);
  try {
    svc.delete_image("busybox");
    ADD_FAILURE() << "delete_image succeeded while a snapshot uses the image";
  } catch (const service::Conflict& e) {
    EXPECT_NE(std::string(e.what()).find(snap.id), std::string::npos) << e.what();
  }
  // A sandbox restored from the snapshot runs on the same image.
  auto clone = create(svc, "ignored", snap.id);
  EXPECT_EQ(clone.image, "busybox");
  EXPECT_EQ(sh(svc, clone.id, "echo $FROM_IMAGE"), "oci\n");
  svc.kill_sandbox(clone.id);
  svc.delete_snapshot(snap.id);
  svc.delete_image("busybox");
  EXPECT_TRUE(svc.list_images().empty());
  EXPECT_FALSE(path_exists(root_ + "/a/layers/layers/sha256/" + hex_of(img.info.layers[0])));
  EXPECT_THROW(create(svc, "busybox"), service::NotFound);
}

// Deleting snapshots prunes the layer stores: a snapshot's diff layer (stored when a clone was
// restored from it) goes with the last snapshot or running sandbox that needs it; the image's
// layers stay while the image does.
TEST_F(PortableTest, DeletingSnapshotsPrunesTheirDiffLayers) {
  auto& svc = service("a");
  std::string layout = root_ + "/scratch/oci";
  make_oci_layout(root_ + "/scratch", layout);
  auto img = svc.import_image(layout, "busybox");
  std::string image_layer = root_ + "/a/layers/layers/sha256/" + hex_of(img.info.layers[0]);
  auto diff_layer = [&](const std::string& snap_id) {
    std::string digest = runtime::read_checkpoint_meta(svc.snapshot_dir(snap_id) + "/criu").diff_digest;
    return root_ + "/a/run/layers/layers/sha256/" + hex_of(digest);
  };

  auto sbx = create(svc, "busybox");
  sh(svc, sbx.id, "echo one > /root/one");
  auto s1 = svc.create_snapshot(sbx.id);
  std::string d1 = diff_layer(s1.id);
  auto c1 = create(svc, "ignored", s1.id);  // stores s1's diff, a lower of c1's root
  ASSERT_TRUE(path_exists(d1));
  sh(svc, c1.id, "echo two > /root/two");
  auto s2 = svc.create_snapshot(c1.id);  // its lowers: s1's diff, then the image
  std::string d2 = diff_layer(s2.id);
  svc.kill_sandbox(c1.id);

  // s2 still needs s1's diff as a lower.
  svc.delete_snapshot(s1.id);
  EXPECT_TRUE(path_exists(d1));
  EXPECT_TRUE(path_exists(image_layer));

  // A running clone of s2 keeps both diffs mounted after s2 is gone...
  auto c2 = create(svc, "ignored", s2.id);
  ASSERT_TRUE(path_exists(d2));
  svc.delete_snapshot(s2.id);
  EXPECT_TRUE(path_exists(d1));
  EXPECT_TRUE(path_exists(d2));
  EXPECT_EQ(sh(svc, c2.id, "cat /root/one /root/two"), "one\ntwo\n");
  // ...and its end lets them go. The image's layer stays: the image and a sandbox use it.
  svc.kill_sandbox(c2.id);
  EXPECT_FALSE(path_exists(d1));
  EXPECT_FALSE(path_exists(d2));
  EXPECT_TRUE(path_exists(image_layer));
  EXPECT_EQ(sh(svc, sbx.id, "cat /root/one"), "one\n");

  // Nothing needs the image's layer once the image goes.
  svc.kill_sandbox(sbx.id);
  svc.delete_image("busybox");
  EXPECT_FALSE(path_exists(image_layer));
}

TEST_F(PortableTest, DockerArchiveImageRuns) {
  auto& svc = service("a");
  std::string tar = root_ + "/scratch/busybox-docker.tar";
  make_docker_archive(root_ + "/scratch", tar);
  auto img = svc.import_image(tar, "");
  EXPECT_EQ(img.info.name, "busybox-docker");  // from the file name
  auto sbx = create(svc, img.info.name);
  EXPECT_EQ(sh(svc, sbx.id, "echo $FROM_IMAGE; ls /bin/busybox"), "docker\n/bin/busybox\n");
  // Not an image at all: refused, nothing stored.
  write_file_atomic(root_ + "/scratch/junk.tar", "not a tar");
  EXPECT_THROW(svc.import_image(root_ + "/scratch/junk.tar", "junk"), service::BadRequest);
  EXPECT_EQ(svc.list_images().size(), 1u);
}

// The main scenario: export from state dir A, import into a fresh state dir B (another engine),
// resume there with files and a running process; damaged archives are refused cleanly.
TEST_F(PortableTest, SnapshotExportImportResumesInFreshStateDir) {
  auto& a = service("a");
  std::string layout = root_ + "/scratch/oci";
  make_oci_layout(root_ + "/scratch", layout);
  a.import_image(layout, "busybox");
  auto sbx = create(a, "busybox");
  sh(a, sbx.id, "mkdir -p /work && echo carried-over > /work/state.txt");
  sh(a, sbx.id, kStartCounter);
  std::this_thread::sleep_for(500ms);
  auto snap = a.create_snapshot(sbx.id);
  std::string archive = root_ + "/scratch/snap.tar";
  a.export_snapshot(snap.id, archive);
  a.kill_sandbox(sbx.id);

  auto& b = service("b");
  // Damaged copies first: each is refused, naming the problem, and leaves nothing behind.
  std::string data = bytes_of(archive);
  auto at = member_data_offset(data, "snapshot/sandbox.json");
  ASSERT_NE(at, std::string::npos);
  std::string tampered = data;
  tampered[at + 5] ^= 0x01;
  write_file_atomic(root_ + "/scratch/tampered.tar", tampered);
  try {
    b.import_snapshot(root_ + "/scratch/tampered.tar");
    ADD_FAILURE() << "a tampered archive was imported";
  } catch (const service::BadRequest& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch for `snapshot/sandbox.json`"), std::string::npos)
        << e.what();
  }
  write_file_atomic(root_ + "/scratch/truncated.tar", data.substr(0, data.size() / 2));
  EXPECT_THROW(b.import_snapshot(root_ + "/scratch/truncated.tar"), service::BadRequest);
  EXPECT_TRUE(b.list_images().empty());
  EXPECT_TRUE(b.list_snapshots(10, "").items.empty());
  EXPECT_TRUE(fs::is_empty(root_ + "/b/snapshots"));
  EXPECT_TRUE(!path_exists(root_ + "/b/layers") || fsimage::LayerStore(root_ + "/b/layers").list().empty());

  // The real one.
  auto imported = b.import_snapshot(archive);
  EXPECT_EQ(imported.id, snap.id);
  EXPECT_EQ(imported.image, "busybox");
  ASSERT_EQ(b.list_images().size(), 1u);
  EXPECT_THROW(b.import_snapshot(archive), service::Conflict);
  // Its recorded lowers now point into B's state dir, not A's.
  auto meta = json::parse(read_file(root_ + "/b/snapshots/" + snap.id + "/criu/cryo-checkpoint.json"));
  for (auto& l : meta["overlay"]["lowers"])
    EXPECT_EQ(l.get<std::string>().rfind(root_ + "/b/", 0), 0u) << l;

  // A is gone entirely: B must not depend on it.
  services_.erase("a");
  remove_tree(root_ + "/a");

  auto clone = create(b, "default", snap.id);
  EXPECT_EQ(clone.image, "busybox");
  EXPECT_EQ(sh(b, clone.id, "cat /work/state.txt"), "carried-over\n");
  int c1 = counter(b, clone.id);
  EXPECT_GT(c1, 0);
  std::this_thread::sleep_for(500ms);
  EXPECT_GT(counter(b, clone.id), c1) << "the restored counter process is not running";
  EXPECT_THROW(b.delete_image("busybox"), service::Conflict);
}

TEST_F(PortableTest, DefaultImageSnapshotMovesToFreshStateDir) {
  auto& a = service("a");
  auto sbx = create(a, "default");
  sh(a, sbx.id, "echo hello > /workspace/f.txt");
  sh(a, sbx.id, kStartCounter);
  std::this_thread::sleep_for(300ms);
  auto snap = a.create_snapshot(sbx.id);
  a.kill_sandbox(sbx.id);
  // A chain: restore, change, snapshot again; the second snapshot depends on the first's diff.
  auto mid = create(a, "default", snap.id);
  sh(a, mid.id, "echo second >> /workspace/f.txt");
  auto snap2 = a.create_snapshot(mid.id);
  a.kill_sandbox(mid.id);
  std::string archive = root_ + "/scratch/snap2.tar";
  a.export_snapshot(snap2.id, archive);
  services_.erase("a");
  remove_tree(root_ + "/a");

  auto& b = service("b");
  auto imported = b.import_snapshot(archive);
  EXPECT_EQ(imported.image, "default");
  auto clone = create(b, "default", imported.id);
  EXPECT_EQ(sh(b, clone.id, "cat /workspace/f.txt"), "hello\nsecond\n");
  int c1 = counter(b, clone.id);
  std::this_thread::sleep_for(400ms);
  EXPECT_GT(counter(b, clone.id), c1);
}

}  // namespace
}  // namespace cryo::sentry_test
