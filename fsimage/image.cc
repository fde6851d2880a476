// Image import from an OCI image layout or a `docker save` archive into a LayerStore.
//
// Archives are first extracted with import_layer (so the same containment rules apply), and
// every file named by a manifest is opened with RESOLVE_IN_ROOT: `docker save` uses symlinks
// between layer directories, which must not lead out of the extracted tree.
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"

namespace cryo::fsimage {
namespace {

using nlohmann::json;

// A temp directory under the store, removed on scope exit; named "<pid>-..." so a store
// opened after a crash can clean it up.
class ScratchDir {
 public:
  explicit ScratchDir(const LayerStore& store) {
    std::string tmpl = store.root() + "/tmp/" + std::to_string(::getpid()) + "-image-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw_errno("create scratch dir in `" + store.root() + "`");
    path_ = tmpl;
  }
  ~ScratchDir() {
    try {
      remove_tree(path_);
    } catch (...) {
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Read access to an (untrusted) image tree: every path stays inside it.
class Tree {
 public:
  Tree(const std::string& dir, std::string label) : label_(std::move(label)) {
    root_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_) throw_errno("open image `" + label_ + "`");
  }

  UniqueFd open(const std::string& name) const {
    std::string rel = clean_entry_path(name);
    if (rel.empty()) throw Error("image `" + label_ + "`: empty file name in manifest");
    struct open_how how = {};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd = ::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how);
    if (fd < 0) throw SysError(errno, "image `" + label_ + "`: open `" + rel + "`");
    return UniqueFd(static_cast<int>(fd));
  }

  bool exists(const std::string& name) const {
    try {
      open(name);
      return true;
    } catch (const SysError& e) {
      if (e.code() == ENOENT) return false;
      throw;
    }
  }

  std::string read(const std::string& name) const {
    UniqueFd fd = open(name);
    return read_fd(fd.get());
  }

  json read_json(const std::string& name) const {
    std::string text = read(name);
    try {
      return json::parse(text);
    } catch (const json::exception& e) {
      throw Error("image `" + label_ + "`: `" + name + "` is not valid JSON: " + e.what());
    }
  }

  // A path to an already opened file, for APIs that take paths.
  static std::string fd_path(const UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); }

  const std::string& label() const { return label_; }

 private:
  UniqueFd root_;
  std::string label_;
};

bool is_directory(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat `" + path + "`");
  return S_ISDIR(st.st_mode);
}

std::vector<std::string> string_list(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) throw Error(std::string("image config: `") + key + "` is not a list");
  for (const auto& v : *it) out.push_back(v.get<std::string>());
  return out;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Fills the runtime-relevant parts of an image config (env, cmd, ...) into `rec`.
void read_config(const json& config, ImageRecord& rec) {
  json c = config.value("config", json::object());
  if (c.is_null()) c = json::object();
  rec.env = string_list(c, "Env");
  rec.entrypoint = string_list(c, "Entrypoint");
  rec.cmd = string_list(c, "Cmd");
  rec.working_dir = string_field(c, "WorkingDir");
  rec.user = string_field(c, "User");
  if (config.contains("rootfs")) rec.diff_ids = string_list(config["rootfs"], "diff_ids");
}

// Reads a content-addressed blob of an OCI layout, checking its bytes against the digest.
std::string read_blob(const Tree& tree, const std::string& digest) {
  std::string data = tree.read("blobs/sha256/" + digest_hex(digest));
  if (sha256_bytes(data) != digest)
    throw Error("image `" + tree.label() + "`: blob " + digest + " does not match its digest");
  return data;
}

json parse(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(what + " is not valid JSON: " + e.what());
  }
}

bool is_index(const json& desc) {
  std::string mt = desc.value("mediaType", "");
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

// Picks a manifest descriptor from an index: by ref name when asked, else the linux/amd64
// one when platforms are given, else the first.
json pick_manifest(const json& index, const std::string& ref, const std::string& label) {
  const json& manifests = index.at("manifests");
  if (!manifests.is_array() || manifests.empty())
    throw Error("image `" + label + "`: index lists no manifests");
  if (!ref.empty()) {
    for (const auto& m : manifests) {
      json ann = m.value("annotations", json::object());
      if (ann.value("org.opencontainers.image.ref.name", "") == ref ||
          ann.value("io.containerd.image.name", "") == ref)
        return m;
    }
    throw Error("image `" + label + "`: no manifest named `" + ref + "`");
  }
  for (const auto& m : manifests) {
    json p = m.value("platform", json::object());
    if (p.value("os", "linux") == "linux" && p.value("architecture", "amd64") == "amd64") return m;
  }
  return manifests.front();
}

ImageRecord import_layout_tree(const Tree& tree, LayerStore& store, const std::string& ref) {
  if (!tree.exists("oci-layout"))
    throw Error("image `" + tree.label() + "`: no `oci-layout` file: not an OCI image layout");
  json desc = pick_manifest(tree.read_json("index.json"), ref, tree.label());
  // Nested indexes (multi-platform images) hold the manifests one level down.
  for (int depth = 0; is_index(desc); ++depth) {
    if (depth > 4) throw Error("image `" + tree.label() + "`: indexes nested too deep");
    std::string digest = desc.at("digest").get<std::string>();
    desc = pick_manifest(parse(read_blob(tree, digest), "index " + digest), "", tree.label());
  }
  std::string manifest_digest = desc.at("digest").get<std::string>();
  json manifest = parse(read_blob(tree, manifest_digest), "manifest " + manifest_digest);

  ImageRecord rec;
  rec.config_digest = manifest.at("config").at("digest").get<std::string>();
  read_config(parse(read_blob(tree, rec.config_digest), "config " + rec.config_digest), rec);
  for (const auto& layer : manifest.at("layers")) {
    std::string digest = layer.at("digest").get<std::string>();
    UniqueFd fd = tree.open("blobs/sha256/" + digest_hex(digest));
    rec.layers.push_back(store.put_tar(Tree::fd_path(fd), digest));  // put_tar verifies it
  }
  if (!rec.diff_ids.empty() && rec.diff_ids.size() != rec.layers.size())
    throw Error("image `" + tree.label() + "`: config lists " +
                std::to_string(rec.diff_ids.size()) + " diff_ids for " +
                std::to_string(rec.layers.size()) + " layers");
  return rec;
}

bool looks_compressed(int fd) {
  unsigned char magic[4] = {};
  if (::pread(fd, magic, sizeof magic, 0) < 2) return false;
  bool gzip = magic[0] == 0x1f && magic[1] == 0x8b;
  bool zstd = magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
  bool xz = magic[0] == 0xfd && magic[1] == '7' && magic[2] == 'z' && magic[3] == 'X';
  return gzip || zstd || xz;
}

json pick_docker_image(const json& manifest, const std::string& ref, const std::string& label) {
  if (!manifest.is_array() || manifest.empty())
    throw Error("image `" + label + "`: manifest.json lists no images");
  if (ref.empty()) return manifest.front();
  for (const auto& image : manifest)
    for (const auto& tag : image.value("RepoTags", json::array()))
      if (tag.is_string() && tag.get<std::string>() == ref) return image;
  throw Error("image `" + label + "`: no image tagged `" + ref + "`");
}

}  // namespace

std::vector<std::string> ImageRecord::lower_dirs(const LayerStore& store) const {
  std::vector<std::string> dirs;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) dirs.push_back(store.dir_for(*it));
  return dirs;
}

ImageRecord import_oci_layout(const std::string& dir_or_tar, LayerStore& store,
                              const std::string& ref) {
  try {
    if (is_directory(dir_or_tar)) return import_layout_tree(Tree(dir_or_tar, dir_or_tar), store, ref);
    ScratchDir scratch(store);
    import_layer(dir_or_tar, scratch.path(), {.allow_devices = false, .overlay_whiteouts = false});
    return import_layout_tree(Tree(scratch.path(), dir_or_tar), store, ref);
  } catch (const nlohmann::json::exception& e) {
    throw Error("image `" + dir_or_tar + "`: malformed metadata: " + e.what());
  }
}

ImageRecord import_docker_archive(const std::string& tar_path, LayerStore& store,
                                  const std::string& ref) {
  try {
    ScratchDir scratch(store);
    import_layer(tar_path, scratch.path(), {.allow_devices = false, .overlay_whiteouts = false});
    Tree tree(scratch.path(), tar_path);
    json image = pick_docker_image(tree.read_json("manifest.json"), ref, tar_path);

    ImageRecord rec;
    std::string config_text = tree.read(image.at("Config").get<std::string>());
    rec.config_digest = sha256_bytes(config_text);
    read_config(parse(config_text, "image config"), rec);
    const json& layers = image.at("Layers");
    if (!rec.diff_ids.empty() && rec.diff_ids.size() != layers.size())
      throw Error("image `" + tar_path + "`: config lists " + std::to_string(rec.diff_ids.size()) +
                  " diff_ids for " + std::to_string(layers.size()) + " layers");
    for (size_t i = 0; i < layers.size(); ++i) {
      UniqueFd fd = tree.open(layers[i].get<std::string>());
      std::string digest = store.put_tar(Tree::fd_path(fd));
      // Uncompressed layers must hash to the config's diff_id: the config is the image's word.
      if (!rec.diff_ids.empty() && !looks_compressed(fd.get()) && digest != rec.diff_ids[i])
        throw Error("image `" + tar_path + "`: layer " + std::to_string(i) + " has digest " +
                    digest + " but the config says " + rec.diff_ids[i]);
      rec.layers.push_back(digest);
    }
    return rec;
  } catch (const nlohmann::json::exception& e) {
    throw Error("image `" + tar_path + "`: malformed metadata: " + e.what());
  }
}

}  // namespace cryo::fsimage
