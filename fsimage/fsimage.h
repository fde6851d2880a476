// Root filesystems that can be snapshotted: overlay mounts, layer diffs as OCI tars, a layer store.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cryo::fsimage {

// ---- digests -----------------------------------------------------------------------------------

// Throws cryo::Error unless `digest` is "sha256:" followed by 64 lowercase hex digits.
void validate_digest(const std::string& digest);
// The 64 hex digits of a validated digest.
std::string digest_hex(const std::string& digest);
// "sha256:<hex>" of a file's bytes.
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const std::string& data);

// ---- overlay mounts ----------------------------------------------------------------------------

struct OverlayConfig {
  std::vector<std::string> lowers;  // top-most first, as overlayfs wants them
  std::string upper;                // empty: a read-only overlay of the lowers (needs >= 2 lowers)
  std::string work;                 // required with upper; same filesystem as upper
  // Extra comma-separated-safe options ("index=off"). By default the mount disables
  // redirect_dir and metacopy, because export_diff cannot express either in a tar.
  std::vector<std::string> extra_options = {"redirect_dir=off", "metacopy=off"};
};

// Escapes `\`, `,` and `:` with a backslash, the way overlayfs splits its option string.
std::string escape_overlay_path(const std::string& path);
// The mount(2) data string for `config`. Throws cryo::Error when it would not fit in the one
// page the kernel copies for mount options (too many or too long lower paths).
std::string overlay_mount_data(const OverlayConfig& config, size_t limit = 0 /* 0: page size - 1 */);

// A mount this object owns: detached (MNT_DETACH) on destruction unless release()d.
class OwnedMount {
 public:
  OwnedMount() = default;
  explicit OwnedMount(std::string target) : target_(std::move(target)) {}
  OwnedMount(OwnedMount&& other) noexcept : target_(other.release()) {}
  OwnedMount& operator=(OwnedMount&& other) noexcept;
  OwnedMount(const OwnedMount&) = delete;
  OwnedMount& operator=(const OwnedMount&) = delete;
  ~OwnedMount();

  const std::string& target() const { return target_; }
  bool mounted() const { return !target_.empty(); }
  // Unmounts now (lazily, MNT_DETACH); throws on failure.
  void unmount();
  // Keeps the mount alive past this object; returns the target.
  std::string release();

 protected:
  void own(std::string target) { target_ = std::move(target); }  // just mounted by the subclass

 private:
  std::string target_;
};

// A mounted overlayfs.
class OverlayMount : public OwnedMount {
 public:
  OverlayMount() = default;
  OverlayMount(const OverlayConfig& config, const std::string& target, unsigned long flags = 0);
};

// ---- layer tars --------------------------------------------------------------------------------

struct LayerInfo {
  std::string digest;  // "sha256:<hex>" of the uncompressed tar (equal to the OCI diff_id)
  uint64_t size = 0;   // bytes of the tar
};

// Writes the overlay upper directory `upper_dir` as an OCI image layer (uncompressed pax tar),
// atomically at `out_tar_path`. Whiteouts become ".wh.<name>", opaque directories get a
// "<dir>/.wh..wh..opq" entry; overlay's private xattrs are dropped. Output is deterministic.
// Durability::Later skips the fsyncs (a caller in a hurry, such as a dump holding a frozen
// container, calls sync_file() on the result afterwards).
enum class Durability { Now, Later };
LayerInfo export_diff(const std::string& upper_dir, const std::string& out_tar_path,
                      Durability durability = Durability::Now);
// fsyncs a file and the directory holding it.
void sync_file(const std::string& path);

struct ImportOptions {
  bool allow_devices = false;     // create char/block device nodes from the tar
  bool overlay_whiteouts = true;  // keep whiteouts as overlay markers (the dir becomes a lower
                                  // layer); false: apply them by deleting (flattening)
};

// Extracts the layer tar (optionally gzip/zstd/xz compressed) into the existing directory
// `target_dir` without ever touching anything outside it. Throws cryo::Error naming the entry.
// On error the target is left partially written; the caller removes it.
void import_layer(const std::string& tar_path, const std::string& target_dir,
                  const ImportOptions& options = {});

// Normalizes a tar entry name to a relative path ("./a//b/" -> "a/b", "." -> ""). Throws
// cryo::Error for absolute paths, ".." components and NUL-free but empty names.
std::string clean_entry_path(const std::string& name);

// ---- layer store -------------------------------------------------------------------------------

// Layers stored once by digest: <root>/blobs/sha256/<hex> (the tar as given) and
// <root>/layers/sha256/<hex>/ (extracted, overlay-ready). Safe against concurrent puts of the
// same digest, and a crash never leaves a half-extracted layer under layers/.
class LayerStore {
 public:
  explicit LayerStore(std::string root);

  const std::string& root() const { return root_; }
  // Stores a layer tar; returns its digest. With `expected_digest`, refuses a tar whose bytes
  // do not hash to it. Storing a digest already present does nothing more.
  std::string put_tar(const std::string& tar_path, const std::string& expected_digest = "");
  bool has(const std::string& digest) const;
  // Paths of a stored layer; throw cryo::Error when the digest is not stored.
  std::string dir_for(const std::string& digest) const;
  std::string tar_for(const std::string& digest) const;
  void remove(const std::string& digest);
  // Re-hashes the stored blob; false when it no longer matches its digest (or is missing).
  bool verify(const std::string& digest) const;
  std::vector<std::string> list() const;
  // Sweep of a mark-and-sweep: removes every layer (blob, directory, or a leftover half of the
  // two) whose digest is not in `live`; returns the digests removed, sorted. The caller computes
  // `live` and keeps new layers from being stored meanwhile (they would not be in it).
  std::vector<std::string> prune(const std::set<std::string>& live);

 private:
  std::string blob_path(const std::string& digest) const;
  std::string layer_path(const std::string& digest) const;
  std::string make_tmp_name(const std::string& what) const;
  void clean_stale_tmp() const;

  std::string root_;
};

// ---- images ------------------------------------------------------------------------------------

struct ImageRecord {
  std::vector<std::string> layers;  // store digests, bottom-most first (as in the manifest)
  std::vector<std::string> diff_ids;  // from the config's rootfs.diff_ids, when present
  std::string config_digest;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  // Overlay lower dirs for this image, top-most first.
  std::vector<std::string> lower_dirs(const LayerStore& store) const;
};

// Imports the image of an OCI image layout (a directory, or a tar of one). With several
// manifests in index.json, `ref` picks the one annotated org.opencontainers.image.ref.name.
ImageRecord import_oci_layout(const std::string& dir_or_tar, LayerStore& store,
                              const std::string& ref = "");
// Imports the first image (or the one tagged `ref`) of a `docker save` archive.
ImageRecord import_docker_archive(const std::string& tar_path, LayerStore& store,
                                  const std::string& ref = "");

}  // namespace cryo::fsimage
