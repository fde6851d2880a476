// LayerStore: layer tars and their extracted, overlay-ready directories, stored by digest.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/internal.h"

namespace cryo::fsimage {
namespace {

std::vector<std::string> dir_names(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (!dir) {
    if (errno == ENOENT) return names;
    throw_errno("opendir `" + path + "`");
  }
  while (struct dirent* ent = ::readdir(dir))
    if (std::strcmp(ent->d_name, ".") && std::strcmp(ent->d_name, ".."))
      names.emplace_back(ent->d_name);
  ::closedir(dir);
  return names;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Copies `src` to the open `out`, returning the digest of the bytes copied: hashing the
// copy rather than the source means a source changing meanwhile cannot slip past.
std::string copy_hashing(const std::string& src, int out, const std::string& out_path) {
  UniqueFd in = open_or_throw(src, O_RDONLY);
  detail::Sha256 hash;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read `" + src + "`");
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    write_all(out, buf.data(), static_cast<size_t>(n), "write `" + out_path + "`");
  }
  return hash.finish();
}

}  // namespace

LayerStore::LayerStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  make_dirs(root_ + "/blobs/sha256");
  make_dirs(root_ + "/layers/sha256");
  make_dirs(root_ + "/tmp");
  clean_stale_tmp();
}

std::string LayerStore::blob_path(const std::string& digest) const {
  return root_ + "/blobs/sha256/" + digest_hex(digest);
}

std::string LayerStore::layer_path(const std::string& digest) const {
  return root_ + "/layers/sha256/" + digest_hex(digest);
}

// tmp/<pid>-<n>-<what>: the pid lets a later store tell leftovers of a crash from work in
// progress in another process.
std::string LayerStore::make_tmp_name(const std::string& what) const {
  static std::atomic<unsigned> counter{0};
  return root_ + "/tmp/" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         what;
}

void LayerStore::clean_stale_tmp() const {
  for (const auto& name : dir_names(root_ + "/tmp")) {
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) remove_tree(root_ + "/tmp/" + name);
  }
}

bool LayerStore::has(const std::string& digest) const {
  return is_dir(layer_path(digest)) && is_file(blob_path(digest));
}

std::string LayerStore::dir_for(const std::string& digest) const {
  if (!has(digest)) throw Error("layer `" + digest + "` is not in the store `" + root_ + "`");
  return layer_path(digest);
}

std::string LayerStore::tar_for(const std::string& digest) const {
  if (!has(digest)) throw Error("layer `" + digest + "` is not in the store `" + root_ + "`");
  return blob_path(digest);
}

std::string LayerStore::put_tar(const std::string& tar_path, const std::string& expected) {
  if (!expected.empty()) validate_digest(expected);
  // 1. The blob: copy while hashing into tmp/, check, then rename into blobs/.
  std::string tmp_blob = make_tmp_name("blob");
  std::string digest;
  {
    UniqueFd out = open_or_throw(tmp_blob, O_WRONLY | O_CREAT | O_EXCL, 0644);
    try {
      digest = copy_hashing(tar_path, out.get(), tmp_blob);
      if (!expected.empty() && digest != expected)
        throw Error("layer `" + tar_path + "` has digest " + digest + ", expected " + expected);
      if (::fsync(out.get()) != 0) throw_errno("fsync `" + tmp_blob + "`");
    } catch (...) {
      ::unlink(tmp_blob.c_str());
      throw;
    }
  }
  if (has(digest)) {
    ::unlink(tmp_blob.c_str());
    return digest;
  }
  // Same digest, same bytes: replacing a blob a concurrent put just stored is harmless.
  std::string blob = blob_path(digest);
  if (::rename(tmp_blob.c_str(), blob.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_blob.c_str());
    throw SysError(err, "store blob `" + blob + "`");
  }
  detail::fsync_dir_of(blob);

  // 2. The layer dir: extract into tmp/, then rename; the first rename wins.
  std::string final_dir = layer_path(digest);
  if (is_dir(final_dir)) return digest;
  std::string tmp_dir = make_tmp_name("layer");
  if (::mkdir(tmp_dir.c_str(), 0755) != 0) throw_errno("mkdir `" + tmp_dir + "`");
  try {
    import_layer(blob, tmp_dir, ImportOptions{});
    if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0) {
      if (errno != ENOTEMPTY && errno != EEXIST) throw_errno("rename layer to `" + final_dir + "`");
      remove_tree(tmp_dir);  // a concurrent put of the same digest got there first
    }
  } catch (...) {
    remove_tree(tmp_dir);
    throw;
  }
  detail::fsync_dir_of(final_dir);
  return digest;
}

void LayerStore::remove(const std::string& digest) {
  std::string dir = layer_path(digest);
  std::string doomed = make_tmp_name("removed");
  // Renaming first makes the layer vanish at once; the slow delete happens out of sight.
  if (::rename(dir.c_str(), doomed.c_str()) == 0) {
    remove_tree(doomed);
  } else if (errno != ENOENT) {
    throw_errno("remove layer `" + dir + "`");
  }
  std::string blob = blob_path(digest);
  if (::unlink(blob.c_str()) != 0 && errno != ENOENT) throw_errno("remove blob `" + blob + "`");
}

bool LayerStore::verify(const std::string& digest) const {
  std::string blob = blob_path(digest);
  if (!is_file(blob)) return false;
  return sha256_file(blob) == digest;
}

std::vector<std::string> LayerStore::list() const {
  std::vector<std::string> out;
  for (const auto& hex : dir_names(root_ + "/layers/sha256")) {
    std::string digest = "sha256:" + hex;
    try {
      validate_digest(digest);
    } catch (const Error&) {
      continue;
    }
    if (has(digest)) out.push_back(digest);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> LayerStore::prune(const std::set<std::string>& live) {
  // Both halves are listed: a crash between storing the blob and extracting it leaves a blob
  // without a directory, which list() (whole layers only) would never report.
  std::set<std::string> stored;
  for (const char* kind : {"/blobs/sha256", "/layers/sha256"}) {
    for (const auto& hex : dir_names(root_ + kind)) {
      std::string digest = "sha256:" + hex;
      try {
        validate_digest(digest);
      } catch (const Error&) {
        continue;  // not a name this store gave: not ours to remove
      }
      stored.insert(digest);
    }
  }
  std::vector<std::string> removed;
  for (const auto& digest : stored) {
    if (live.count(digest)) continue;
    remove(digest);
    removed.push_back(digest);
  }
  return removed;
}

}  // namespace cryo::fsimage
