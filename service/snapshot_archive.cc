#include "service/snapshot_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/file.h"
#include "service/engine.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 20;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw Error("sha256: OpenSSL init failed");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len) {
    if (EVP_DigestUpdate(ctx_, data, len) != 1) throw Error("sha256: OpenSSL update failed");
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) throw Error("sha256: OpenSSL final failed");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A member name as we accept it: relative, no "." or ".." components, no empty components.
bool clean_name(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.size() > 4096) return false;
  std::istringstream parts(name);
  std::string part;
  while (std::getline(parts, part, '/'))
    if (part.empty() || part == "." || part == "..") return false;
  return name.back() != '/';
}

std::string strip_dir_slash(std::string name) {
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (name.rfind("./", 0) == 0) name.erase(0, 2);
  return name;
}

// manifest text -> name -> hex; BadRequest on anything malformed.
std::map<std::string, std::string> parse_manifest(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto bad = [&] { throw BadRequest(std::string("snapshot archive: ") + kArchiveManifest + " line " + std::to_string(n) + " is malformed"); };
    if (line.size() < 67 || line.substr(64, 2) != "  ") bad();
    std::string hex = line.substr(0, 64), name = line.substr(66);
    if (!std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
      bad();
    if (!clean_name(name) || !out.emplace(name, hex).second) bad();
  }
  return out;
}

}  // namespace

std::vector<std::string> list_regular_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw Error("walk `" + dir + "`: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error("walk `" + dir + "`: " + ec.message());
    auto st = it->symlink_status();
    std::string rel = fs::relative(it->path(), dir).string();
    if (fs::is_regular_file(st))
      out.push_back(rel);
    else if (!fs::is_directory(st))
      throw Error("`" + it->path().string() + "` is neither a regular file nor a directory");
  }
  std::sort(out.begin(), out.end());
  return out;
}

void write_checked_archive(const std::string& out_path, const std::vector<ArchiveMember>& members,
                           const ArchiveProgress& progress) {
  UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) throw_errno("create `" + out_path + "`");
  std::unique_ptr<archive, WriteDeleter> ar(archive_write_new());
  if (!ar) throw Error("archive_write_new failed");
  auto fail = [&](const std::string& what) {
    throw Error("write archive `" + out_path + "`: " + what + ": " + (archive_error_string(ar.get()) ?: "unknown error"));
  };
  if (archive_write_set_format_pax_restricted(ar.get()) != ARCHIVE_OK) fail("set format");
  if (archive_write_open_fd(ar.get(), out.get()) != ARCHIVE_OK) fail("open");
  int64_t done = 0;
  std::string manifest;
  std::string buf(kChunk, '\0');
  auto put = [&](const std::string& name, int fd, int64_t size, mode_t mode, time_t mtime, Sha256* hash) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), mode & 0777);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), mtime, 0);
    if (archive_write_header(ar.get(), e.get()) != ARCHIVE_OK) fail("header of `" + name + "`");
    int64_t left = size;
    while (left > 0) {
      ssize_t n = ::read(fd, buf.data(), static_cast<size_t>(std::min<int64_t>(left, kChunk)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read `" + name + "`");
      if (n == 0) throw Error("`" + name + "` shrank while it was archived");
      if (hash) hash->update(buf.data(), static_cast<size_t>(n));
      if (archive_write_data(ar.get(), buf.data(), static_cast<size_t>(n)) != n) fail("data of `" + name + "`");
      left -= n;
      done += n;
      if (progress) progress(done);
    }
  };
  std::set<std::string> seen;
  for (auto& m : members) {
    if (!clean_name(m.name) || m.name == kArchiveManifest || !seen.insert(m.name).second)
      throw Error("archive member name `" + m.name + "` is invalid or repeated");
    UniqueFd in = open_or_throw(m.source, O_RDONLY | O_NOFOLLOW);
    struct stat st;
    if (::fstat(in.get(), &st) != 0) throw_errno("stat `" + m.source + "`");
    if (!S_ISREG(st.st_mode)) throw Error("`" + m.source + "` is not a regular file");
    Sha256 hash;
    put(m.name, in.get(), st.st_size, st.st_mode, st.st_mtime, &hash);
    manifest += hash.hex() + "  " + m.name + "\n";
  }
  // The manifest goes last: an archive cut short anywhere lacks it or fails its checks.
  std::string tmp = out_path + ".manifest";
  write_file_atomic(tmp, manifest, 0600);
  UniqueFd mf = open_or_throw(tmp, O_RDONLY);
  ::unlink(tmp.c_str());
  put(kArchiveManifest, mf.get(), static_cast<int64_t>(manifest.size()), 0644, ::time(nullptr), nullptr);
  if (archive_write_close(ar.get()) != ARCHIVE_OK) fail("finish");
  if (::fsync(out.get()) != 0) throw_errno("fsync `" + out_path + "`");
}

std::vector<std::string> extract_checked_archive(const std::string& archive_path, const std::string& staging_dir) {
  std::unique_ptr<archive, ReadDeleter> ar(archive_read_new());
  if (!ar) throw Error("archive_read_new failed");
  archive_read_support_format_tar(ar.get());
  archive_read_support_filter_gzip(ar.get());
  archive_read_support_filter_zstd(ar.get());
  archive_read_support_filter_xz(ar.get());
  auto damaged = [&](const std::string& where) -> BadRequest {
    const char* msg = archive_error_string(ar.get());
    return BadRequest("snapshot archive is damaged or truncated" + where + ": " + (msg ? msg : "read error"));
  };
  if (archive_read_open_filename(ar.get(), archive_path.c_str(), kChunk) != ARCHIVE_OK) throw damaged("");
  UniqueFd root = open_or_throw(staging_dir, O_RDONLY | O_DIRECTORY);
  std::map<std::string, std::string> hashes;  // member -> hex of what we extracted
  std::string manifest_text;
  bool have_manifest = false;
  std::string buf(kChunk, '\0');
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(ar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) throw damaged("");
    const char* raw = archive_entry_pathname(e);
    std::string name = strip_dir_slash(raw ? raw : "");
    auto type = archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      if (!clean_name(name)) throw BadRequest("snapshot archive: bad member name `" + name + "`");
      continue;  // directories come from the files' paths
    }
    if (type != AE_IFREG || archive_entry_hardlink(e))
      throw BadRequest("snapshot archive: member `" + name + "` is not a regular file");
    if (!clean_name(name)) throw BadRequest("snapshot archive: bad member name `" + name + "`");
    if (have_manifest) throw BadRequest(std::string("snapshot archive: member `") + name + "` follows " + kArchiveManifest);
    bool is_manifest = name == kArchiveManifest;
    if (!is_manifest && hashes.count(name)) throw BadRequest("snapshot archive: member `" + name + "` appears twice");
    UniqueFd out;
    if (!is_manifest) {
      auto slash = name.rfind('/');
      if (slash != std::string::npos) make_dirs(staging_dir + "/" + name.substr(0, slash), 0700);
      // The staging tree holds only what we made (dirs and files, no symlinks), so plain paths are safe.
      out.reset(::open((staging_dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       (archive_entry_perm(e) & 0700) | 0600));
      if (!out) throw_errno("extract `" + name + "`");
    }
    Sha256 hash;
    for (;;) {
      la_ssize_t n = archive_read_data(ar.get(), buf.data(), buf.size());
      if (n < 0) throw damaged(" in `" + name + "`");
      if (n == 0) break;
      if (is_manifest) {
        if (manifest_text.size() + static_cast<size_t>(n) > (64u << 20))
          throw BadRequest(std::string("snapshot archive: ") + kArchiveManifest + " is too large");
        manifest_text.append(buf.data(), static_cast<size_t>(n));
      } else {
        hash.update(buf.data(), static_cast<size_t>(n));
        write_all(out.get(), buf.data(), static_cast<size_t>(n), "extract `" + name + "`");
      }
    }
    if (is_manifest) {
      have_manifest = true;
    } else {
      if (::fsync(out.get()) != 0) throw_errno("fsync `" + name + "`");
      hashes[name] = hash.hex();
    }
  }
  if (!have_manifest)
    throw BadRequest(std::string("snapshot archive has no ") + kArchiveManifest +
                     ": it is truncated or not a cryo snapshot archive");
  auto expected = parse_manifest(manifest_text);
  for (auto& [name, hex] : expected) {
    auto it = hashes.find(name);
    if (it == hashes.end()) throw BadRequest("snapshot archive: `" + name + "` is listed in the manifest but missing");
    if (it->second != hex)
      throw BadRequest("snapshot archive: checksum mismatch for `" + name + "` (expected sha256:" + hex + ", got sha256:" +
                       it->second + ")");
  }
  std::vector<std::string> names;
  for (auto& [name, hex] : hashes) {
    if (!expected.count(name)) throw BadRequest("snapshot archive: `" + name + "` is not in the manifest");
    names.push_back(name);
  }
  return names;
}

std::string image_archive_kind(const std::string& tar_path) {
  std::unique_ptr<archive, ReadDeleter> ar(archive_read_new());
  if (!ar) throw Error("archive_read_new failed");
  archive_read_support_format_tar(ar.get());
  archive_read_support_filter_all(ar.get());
  if (archive_read_open_filename(ar.get(), tar_path.c_str(), kChunk) != ARCHIVE_OK)
    throw BadRequest("image `" + tar_path + "`: not a tar archive: " + (archive_error_string(ar.get()) ?: "read error"));
  bool docker = false;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(ar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      throw BadRequest("image `" + tar_path + "`: damaged tar: " + (archive_error_string(ar.get()) ?: "read error"));
    std::string name = strip_dir_slash(archive_entry_pathname(e) ?: "");
    if (name == "oci-layout") return "oci";
    if (name == "manifest.json") docker = true;
    archive_read_data_skip(ar.get());
  }
  return docker ? "docker" : "";
}

}  // namespace cryo::service
