// Helpers shared by the fsimage sources; not part of the public API.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

#include "base/fd.h"

namespace cryo::fsimage::detail {

// Incremental SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  // "sha256:<hex>"; the object cannot be updated afterwards.
  std::string finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

struct ArchiveReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReader = std::unique_ptr<struct archive, ArchiveReadDeleter>;
using ArchiveWriter = std::unique_ptr<struct archive, ArchiveWriteDeleter>;
using Entry = std::unique_ptr<struct archive_entry, EntryDeleter>;

// A reader for tars, compressed or not, that owns `fd`.
ArchiveReader open_tar_reader(const std::string& path);
std::string archive_message(struct archive* a);

// A temp file next to `final_path` that is renamed over it by commit() (after fsync of the file
// and its directory) or unlinked on destruction.
class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& tmp_path() const { return tmp_; }
  void commit(bool sync = true);  // sync: fsync the data and the directory

 private:
  std::string final_;
  std::string tmp_;
  UniqueFd fd_;
  bool committed_ = false;
};

void fsync_dir_of(const std::string& path);
std::string dirname_of(const std::string& path);

}  // namespace cryo::fsimage::detail
