// Tar archives with a checksum manifest (portable snapshots), and a peek into image archives.
//
// A checked archive is an uncompressed tar of regular files whose last member, MANIFEST.sha256,
// lists "<sha256 hex>  <member name>" for every other member (the format `sha256sum -c` reads).
// Reading one extracts it into an empty staging directory and refuses it, naming the file, when
// a member is missing, extra, damaged, or the archive is truncated.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cryo::service {

inline constexpr const char* kArchiveManifest = "MANIFEST.sha256";

struct ArchiveMember {
  std::string name;    // path inside the archive ("snapshot/criu/pages-1.img")
  std::string source;  // file on this host
};

// Called with the bytes written or read so far.
using ArchiveProgress = std::function<void(int64_t bytes)>;

// Writes `members` and the manifest to out_path (created, mode 0600). Throws cryo::Error.
void write_checked_archive(const std::string& out_path, const std::vector<ArchiveMember>& members,
                           const ArchiveProgress& progress = {});

// Extracts archive_path (tar, optionally gzip/zstd/xz) into the existing empty directory
// staging_dir and verifies it against its manifest. Throws BadRequest (bad input) or
// cryo::Error (host trouble); on error staging_dir holds debris the caller removes.
// Returns the member names, manifest excluded.
std::vector<std::string> extract_checked_archive(const std::string& archive_path, const std::string& staging_dir);

// Every regular file under dir, as paths relative to it (sorted). Throws for anything but
// regular files and directories (a snapshot holds nothing else).
std::vector<std::string> list_regular_files(const std::string& dir);

// "oci" when the tar holds an `oci-layout` file, "docker" when it holds `manifest.json`, else "".
std::string image_archive_kind(const std::string& tar_path);

}  // namespace cryo::service
