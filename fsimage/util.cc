// Digests, archive readers and atomic files shared by the fsimage sources.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/internal.h"

namespace cryo::fsimage {
namespace detail {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw Error("sha256: cannot initialise OpenSSL digest");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t len) {
  if (len && EVP_DigestUpdate(ctx_->md, data, len) != 1) throw Error("sha256: update failed");
}

std::string Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &n) != 1) throw Error("sha256: final failed");
  static const char* hex = "0123456789abcdef";
  std::string s = "sha256:";
  for (unsigned i = 0; i < n; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

std::string archive_message(struct archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

ArchiveReader open_tar_reader(const std::string& path) {
  ArchiveReader a(archive_read_new());
  if (!a) throw Error("archive_read_new failed");
  archive_read_support_filter_all(a.get());  // gzip, zstd, xz ... layers
  archive_read_support_format_tar(a.get());  // ustar, pax and GNU tar only
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw Error("open tar `" + path + "`: " + archive_message(a.get()));
  return a;
}

std::string dirname_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_dir_of(const std::string& path) {
  std::string dir = dirname_of(path);
  UniqueFd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0) throw_errno("fsync `" + dir + "`");
}

AtomicFile::AtomicFile(std::string final_path) : final_(std::move(final_path)) {
  static std::atomic<unsigned> counter{0};
  tmp_ = final_ + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = open_or_throw(tmp_, O_WRONLY | O_CREAT | O_EXCL, 0644);
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::commit(bool sync) {
  if (sync && ::fsync(fd_.get()) != 0) throw_errno("fsync `" + tmp_ + "`");
  fd_.reset();
  if (::rename(tmp_.c_str(), final_.c_str()) != 0)
    throw_errno("rename `" + tmp_ + "` to `" + final_ + "`");
  committed_ = true;
  if (sync) fsync_dir_of(final_);
}

}  // namespace detail

void validate_digest(const std::string& digest) {
  static const std::string prefix = "sha256:";
  bool ok = digest.size() == prefix.size() + 64 && digest.compare(0, prefix.size(), prefix) == 0;
  for (size_t i = prefix.size(); ok && i < digest.size(); ++i) {
    char c = digest[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!ok)
    throw Error("invalid digest `" + digest + "`: want `sha256:` and 64 lowercase hex digits");
}

std::string digest_hex(const std::string& digest) {
  validate_digest(digest);
  return digest.substr(7);
}

std::string sha256_bytes(const std::string& data) {
  detail::Sha256 h;
  h.update(data.data(), data.size());
  return h.finish();
}

std::string sha256_file(const std::string& path) {
  UniqueFd fd = open_or_throw(path, O_RDONLY);
  detail::Sha256 h;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read `" + path + "`");
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  return h.finish();
}

}  // namespace cryo::fsimage
