#include "service/snapshot_manifest.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"

namespace cryo::service {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kImageMeta = "cryo-checkpoint.json";

std::map<std::string, std::string> hash_images(const std::string& snapshot_dir) {
  std::map<std::string, std::string> files;
  const fs::path root = snapshot_dir;
  for (auto& e : fs::recursive_directory_iterator(root / "criu")) {
    if (e.is_symlink() || !e.is_regular_file()) continue;
    if (e.path().filename() == kImageMeta) continue;
    files[fs::relative(e.path(), root).string()] = fsimage::sha256_file(e.path().string());
  }
  return files;
}

}  // namespace

void write_snapshot_manifest(const std::string& snapshot_dir) {
  json doc = {{"format", 1}, {"files", hash_images(snapshot_dir)}};
  write_file_atomic(snapshot_dir + "/" + kSnapshotManifest, doc.dump(1) + "\n", 0600);
}

void verify_snapshot_manifest(const std::string& snapshot_dir) {
  auto text = read_file_if_exists(snapshot_dir + "/" + kSnapshotManifest);
  if (!text) return;
  const std::string where = "snapshot `" + snapshot_dir + "`";
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("files") || !doc["files"].is_object())
    throw Error(where + ": " + kSnapshotManifest + " is damaged");
  for (auto& [name, digest] : doc["files"].items()) {
    if (!digest.is_string() || name.empty() || name[0] == '/' || name.find("..") != std::string::npos)
      throw Error(where + ": " + kSnapshotManifest + " is damaged (entry `" + name + "`)");
    std::string path = snapshot_dir + "/" + name;
    if (!path_exists(path)) throw Error(where + " is damaged: `" + name + "` is missing");
    if (fsimage::sha256_file(path) != digest.get<std::string>())
      throw Error(where + " is damaged: `" + name + "` does not match its checksum");
  }
}

}  // namespace cryo::service
