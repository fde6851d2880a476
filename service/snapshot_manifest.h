// Checksums of a snapshot's image files, written when the snapshot is taken and checked before
// anything is restored from it, so that a flipped byte or a truncated file in a CRIU image or in
// rootfs-diff.tar fails the restore clearly instead of restoring a damaged sandbox.
//
// <snapshot>/manifest.json: {"format": 1, "files": {"criu/pages-1.img": "sha256:…", …}}
// Every regular file under criu/ is covered except cryo-checkpoint.json, the image's metadata,
// which may be rewritten when a snapshot is adopted on another host (and is validated by its own
// reader). A snapshot without a manifest (taken before manifests existed) is not checked.
#pragma once

#include <string>

namespace cryo::service {

inline constexpr const char* kSnapshotManifest = "manifest.json";

// Hashes the files under snapshot_dir/criu and writes snapshot_dir/manifest.json atomically.
void write_snapshot_manifest(const std::string& snapshot_dir);

// Throws cryo::Error naming the first missing or changed file; nothing when the
// snapshot has no manifest.
void verify_snapshot_manifest(const std::string& snapshot_dir);

}  // namespace cryo::service
