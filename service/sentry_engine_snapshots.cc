// The sentry engine's snapshots and images: taking a snapshot, importing an image into the layer
// store, what makes a snapshot portable (its dependencies, adopting it on another engine), and
// pruning the layer stores.
#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <set>

#include "base/file.h"
#include "fsimage/fsimage.h"
#include "runtime/checkpoint_image.h"
#include "runtime/container.h"
#include "sentry/container.h"
#include "service/sandbox_image.h"
#include "service/sentry_engine_internal.h"
#include "service/snapshot_archive.h"
#include "service/snapshot_manifest.h"

namespace cryo::service {
namespace {

using nlohmann::json;
using sentry::SandboxPaths;
using sentry::SentryConfig;


// `path` resolved (symlinks, `..`); as given when it no longer exists.
std::string canon(const std::string& path) {
  try {
    return real_path(path);
  } catch (const std::exception&) {
    return path;
  }
}

// The digest of `dir` when it is <store_root>/layers/sha256/<hex>.
std::optional<std::string> store_layer(const std::string& dir, const std::string& store_root) {
  std::string prefix = store_root + "/layers/sha256/";
  if (dir.rfind(prefix, 0) != 0) return std::nullopt;
  std::string digest = "sha256:" + dir.substr(prefix.size());
  try {
    fsimage::validate_digest(digest);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return digest;
}

void drop_new_layers(fsimage::LayerStore& store, const std::set<std::string>& had) {
  try {
    for (auto& d : store.list())
      if (!had.count(d)) store.remove(d);
  } catch (const std::exception&) {
  }
}

int64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

// Points a checkpoint's metadata at this engine's lower dirs. Only the lowers change (the rest
// of the metadata stays as the checkpoint wrote it); upper/work named the original sandbox's dirs,
// which do not exist here: restore uses fresh ones.
void rewrite_checkpoint_lowers(const std::string& meta_path, const std::vector<std::string>& dirs) {
  json j = json::parse(cryo::read_file(meta_path));
  j["overlay"]["lowers"] = dirs;
  j["overlay"]["upper"] = "";
  j["overlay"]["work"] = "";
  write_file_atomic(meta_path, j.dump(2) + "\n", 0600);
}

}  // namespace

void SentryEngine::snapshot(const std::string& id, const std::string& snapshot_dir) {
  SandboxPaths p = existing(id);
  if (!ping(p)) throw Conflict("sandbox `" + id + "` is not running");
  SentryConfig cfg = sentry::load_sentry_config(p);
  runtime::CheckpointOptions o;
  o.id = id;
  o.image_path = snapshot_dir + "/criu";
  o.leave_running = true;
  make_dirs(o.image_path, 0700);
  runtime::container_checkpoint(sentry::runtime_options(cfg), o);
  // Checksums of the image files, checked before every restore (after the sandbox thawed).
  write_snapshot_manifest(snapshot_dir);
  // What a restore needs besides the image: the container's config and the sandbox's spec.
  json rec = {{"format", 1},
              {"sandbox_id", id},
              {"spec", cfg.spec},
              {"cwd", cfg.cwd},
              {"config", json::parse(cryo::read_file(p.bundle() + "/config.json"))}};
  write_file_atomic(snapshot_dir + "/sandbox.json", rec.dump(2) + "\n", 0600);
}

ImageInfo SentryEngine::import_image(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw BadRequest("image `" + path + "`: no such file or directory");
    throw_errno("image `" + path + "`");
  }
  std::lock_guard lock(layers_mu_);
  fsimage::LayerStore store(layers_root_);
  auto before = store.list();
  std::set<std::string> had(before.begin(), before.end());
  try {
    fsimage::ImageRecord rec;
    if (S_ISDIR(st.st_mode)) {
      rec = fsimage::import_oci_layout(path, store);
    } else {
      auto kind = image_archive_kind(path);
      if (kind == "oci") rec = fsimage::import_oci_layout(path, store);
      else if (kind == "docker") rec = fsimage::import_docker_archive(path, store);
      else throw BadRequest("image `" + path + "`: neither an OCI image layout (no `oci-layout`) nor a `docker save` archive (no `manifest.json`)");
    }
    if (rec.layers.empty()) throw BadRequest("image `" + path + "` has no layers");
    ImageInfo info;
    info.digest = rec.config_digest;
    info.layers = rec.layers;
    info.env = rec.env;
    info.entrypoint = rec.entrypoint;
    info.cmd = rec.cmd;
    info.working_dir = rec.working_dir;
    info.user = rec.user;
    std::set<std::string> counted;
    for (auto& d : rec.layers)
      if (counted.insert(d).second) info.size_bytes += file_size(store.tar_for(d));
    return info;
  } catch (const BadRequest&) {
    drop_new_layers(store, had);
    throw;
  } catch (const std::exception& e) {
    drop_new_layers(store, had);
    throw BadRequest(e.what());  // a broken image is the caller's input
  }
}

void SentryEngine::remove_layers(const std::vector<std::string>& digests) {
  std::lock_guard lock(layers_mu_);
  fsimage::LayerStore store(layers_root_);
  for (auto& d : digests)
    if (store.has(d)) store.remove(d);
}

SnapshotDeps SentryEngine::snapshot_dependencies(const std::string& snapshot_dir) {
  auto meta = runtime::read_checkpoint_meta(snapshot_dir + "/criu");
  SnapshotDeps deps;
  if (!meta.overlay) throw Error("snapshot `" + snapshot_dir + "`: its root was not an overlay");
  std::string default_dir = images_ + "/default", init_dir = images_ + "/cryo-init";
  // The recorded lowers come from mountinfo: compare canonical paths.
  std::string default_canon = canon(default_dir), init_canon = canon(init_dir);
  for (auto& recorded : meta.overlay->lowers) {
    PortableLower pl;
    std::string lower = canon(recorded);
    if (lower == default_canon) {
      pl.kind = "default";
      pl.version = read_file_if_exists(default_dir + "/.cryo/version").value_or("");
    } else if (lower == init_canon) {
      pl.kind = "init";
      pl.version = read_file_if_exists(init_dir + "/.cryo/version").value_or("");
    } else if (auto d = store_layer(lower, canon(layers_root_))) {
      pl.kind = "layer";
      pl.digest = *d;
      deps.layer_tars[*d] = fsimage::LayerStore(layers_root_).tar_for(*d);
    } else if (auto d2 = store_layer(lower, canon(diff_store_root()))) {
      pl.kind = "diff";
      pl.digest = *d2;
      deps.layer_tars[*d2] = fsimage::LayerStore(diff_store_root()).tar_for(*d2);
    } else {
      throw Error("snapshot `" + snapshot_dir + "`: lower dir `" + recorded + "` is not one this engine knows");
    }
    deps.lowers.push_back(pl);
  }
  return deps;
}

std::vector<std::string> SentryEngine::adopt_snapshot(const std::string& snapshot_dir,
                                                      const std::vector<PortableLower>& lowers,
                                                      const std::map<std::string, std::string>& layer_tars) {
  std::string meta_path = snapshot_dir + "/criu/" + runtime::kCheckpointMeta;
  auto meta = runtime::read_checkpoint_meta(snapshot_dir + "/criu");
  if (!meta.overlay) throw BadRequest("snapshot archive: the checkpoint's root was not an overlay");
  if (lowers.size() != meta.overlay->lowers.size())
    throw BadRequest("snapshot archive: it describes " + std::to_string(lowers.size()) + " lower layers, the checkpoint has " +
                     std::to_string(meta.overlay->lowers.size()));
  std::lock_guard lock(layers_mu_);
  fsimage::LayerStore store(layers_root_), diffs(diff_store_root());
  auto before = store.list();
  std::set<std::string> had(before.begin(), before.end());
  try {
    std::vector<std::string> dirs;
    for (auto& l : lowers) dirs.push_back(adopted_lower_dir(l, layer_tars, store, diffs));
    rewrite_checkpoint_lowers(meta_path, dirs);
    runtime::read_checkpoint_meta(snapshot_dir + "/criu");  // still valid
  } catch (const cryo::Error& e) {
    drop_new_layers(store, had);
    if (dynamic_cast<const BadRequest*>(&e)) throw;
    throw BadRequest(std::string("snapshot archive: ") + e.what());
  }
  std::vector<std::string> added;
  for (auto& d : store.list())
    if (!had.count(d)) added.push_back(d);
  return added;
}

// Where one lower of a portable snapshot is on this engine; a layer it carries that the stores
// lack is stored first.
std::string SentryEngine::adopted_lower_dir(const PortableLower& l, const std::map<std::string, std::string>& layer_tars,
                                            fsimage::LayerStore& store, fsimage::LayerStore& diffs) {
  auto tar = [&](const std::string& digest) -> const std::string& {
    auto it = layer_tars.find(digest);
    if (it == layer_tars.end()) throw BadRequest("snapshot archive: layer " + digest + " is not in the archive");
    return it->second;
  };
  if (l.kind == "default") {
    if (l.version != default_image_version())
      throw BadRequest("snapshot archive: taken on version `" + l.version + "` of the default image; this cryod has `" +
                       default_image_version() + "`");
    return ensure_default_image(images_, opts_.init_binary);
  }
  if (l.kind == "init") {
    if (l.version != init_layer_version())
      throw BadRequest("snapshot archive: taken with version `" + l.version + "` of the init layer; this cryod has `" +
                       init_layer_version() + "`");
    return ensure_init_layer(images_, opts_.init_binary);
  }
  if (l.kind == "layer") {
    fsimage::validate_digest(l.digest);
    if (!store.has(l.digest)) store.put_tar(tar(l.digest), l.digest);
    return store.dir_for(l.digest);
  }
  if (l.kind == "diff") {
    fsimage::validate_digest(l.digest);
    if (!diffs.has(l.digest)) diffs.put_tar(tar(l.digest), l.digest);
    return diffs.dir_for(l.digest);
  }
  throw BadRequest("snapshot archive: unknown lower layer kind `" + l.kind + "`");
}

std::vector<std::string> SentryEngine::prune_layers(const LayerUsers& users) {
  std::lock_guard lock(layers_mu_);
  fsimage::LayerStore images(layers_root_), diffs(diff_store_root());
  std::string images_root = canon(layers_root_), diffs_root = canon(diff_store_root());
  std::set<std::string> live_images = users.image_layers, live_diffs;
  auto mark = [&](const std::string& lower_dir) {
    std::string dir = canon(lower_dir);
    if (auto d = store_layer(dir, images_root)) live_images.insert(*d);
    if (auto d = store_layer(dir, diffs_root)) live_diffs.insert(*d);
  };
  // Mark: everything is read before anything is removed, so an unreadable snapshot (whose
  // layers are unknown) stops the prune with nothing lost.
  for (auto& dir : users.snapshot_dirs) {
    auto meta = runtime::read_checkpoint_meta(dir + "/criu");
    // Its own diff: kept extracted for the next restore from it, as long as it exists.
    if (!meta.diff_digest.empty()) live_diffs.insert(meta.diff_digest);
    if (meta.overlay)
      for (auto& lower : meta.overlay->lowers) mark(lower);
  }
  for (auto& lower : mounted_lowers()) mark(lower);
  // Sweep.
  auto removed = images.prune(live_images);
  for (auto& d : diffs.prune(live_diffs)) removed.push_back(d);
  return removed;
}

// The lower dirs of every sandbox root mounted now, as mountinfo shows them. Overlayfs reads
// its lowers in place, so none of them may leave the store while mounted.
std::vector<std::string> SentryEngine::mounted_lowers() const {
  std::string mountinfo = cryo::read_file("/proc/self/mountinfo");
  std::vector<std::string> lowers;
  DIR* d = ::opendir(sandboxes_.c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    auto overlay = runtime::find_overlay(mountinfo, canon(SandboxPaths{sandboxes_ + "/" + name}.rootfs()));
    if (overlay) lowers.insert(lowers.end(), overlay->lowers.begin(), overlay->lowers.end());
  }
  if (d) ::closedir(d);
  return lowers;
}

// The store cryo's restore keeps snapshot diff layers in (see runtime::layer_store_root).
std::string SentryEngine::diff_store_root() const {
  runtime::GlobalOptions g;
  g.root = run_;
  return runtime::layer_store_root(g);
}

}  // namespace cryo::service
