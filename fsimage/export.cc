// export_diff: an overlay upper directory written as an OCI layer tar.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/internal.h"

namespace cryo::fsimage {
namespace {

using detail::Entry;
using Xattrs = std::vector<std::pair<std::string, std::string>>;

// The overlay markers found among a file's xattrs, plus the xattrs that belong in the tar.
struct Attrs {
  Xattrs keep;
  bool opaque = false;
  bool whiteout = false;
  bool redirect = false;
  bool metacopy = false;
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Sorts one xattr into overlay markers, dropped overlay-private names, or kept names. overlay
// stores user-visible "trusted.overlay.X" as "trusted.overlay.overlay.X"; undo that escape.
void classify_xattr(Attrs& attrs, const std::string& name, std::string value) {
  for (const std::string prefix : {"trusted.overlay.", "user.overlay."}) {
    if (!starts_with(name, prefix)) continue;
    std::string rest = name.substr(prefix.size());
    if (starts_with(rest, "overlay.")) {
      attrs.keep.emplace_back(prefix + rest.substr(8), std::move(value));
    } else if (rest == "opaque") {
      attrs.opaque = attrs.opaque || value == "y";  // "x" only marks xwhiteouts inside
    } else if (rest == "whiteout") {
      attrs.whiteout = true;
    } else if (rest == "redirect") {
      attrs.redirect = true;
    } else if (rest == "metacopy") {
      attrs.metacopy = true;
    }
    return;
  }
  attrs.keep.emplace_back(name, std::move(value));
}

// Reads xattrs through `list`/`get` (fd- or path-based variants of the syscalls).
template <typename List, typename Get>
Attrs read_attrs(const std::string& what, List list, Get get) {
  Attrs attrs;
  std::string names;
  for (;;) {
    ssize_t n = list(nullptr, 0);
    if (n < 0 && (errno == ENOTSUP || errno == EPERM)) return attrs;
    if (n < 0) throw_errno("list xattrs of `" + what + "`");
    names.resize(static_cast<size_t>(n));
    n = list(names.data(), names.size());
    if (n < 0 && errno == ERANGE) continue;  // grew meanwhile
    if (n < 0) throw_errno("list xattrs of `" + what + "`");
    names.resize(static_cast<size_t>(n));
    break;
  }
  std::vector<std::string> sorted;
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (!name.empty()) sorted.push_back(std::move(name));
  }
  std::sort(sorted.begin(), sorted.end());  // deterministic output
  for (const auto& name : sorted) {
    std::string value;
    for (;;) {
      ssize_t n = get(name.c_str(), nullptr, 0);
      if (n < 0 && errno == ENODATA) break;
      if (n < 0) throw_errno("read xattr `" + name + "` of `" + what + "`");
      value.resize(static_cast<size_t>(n));
      n = get(name.c_str(), value.data(), value.size());
      if (n < 0 && errno == ERANGE) continue;
      if (n < 0) throw_errno("read xattr `" + name + "` of `" + what + "`");
      value.resize(static_cast<size_t>(n));
      classify_xattr(attrs, name, std::move(value));
      break;
    }
  }
  return attrs;
}

Attrs attrs_of_fd(int fd, const std::string& what) {
  return read_attrs(
      what, [fd](char* b, size_t n) { return ::flistxattr(fd, b, n); },
      [fd](const char* name, void* b, size_t n) { return ::fgetxattr(fd, name, b, n); });
}

Attrs attrs_of_path(const std::string& path) {
  return read_attrs(
      path, [&](char* b, size_t n) { return ::llistxattr(path.c_str(), b, n); },
      [&](const char* name, void* b, size_t n) { return ::lgetxattr(path.c_str(), name, b, n); });
}

std::vector<std::string> sorted_names(int dirfd, const std::string& what) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) throw_errno("dup fd of `" + what + "`");
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    ::close(dup);
    throw_errno("opendir `" + what + "`");
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err) throw SysError(err, "readdir `" + what + "`");
  std::sort(names.begin(), names.end());
  return names;
}

bool is_whiteout_device(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

// Streams tar bytes to a file while hashing and counting them.
struct Sink {
  int fd = -1;
  detail::Sha256 hash;
  uint64_t size = 0;
  std::string error;

  static la_ssize_t write(struct archive* a, void* self, const void* buf, size_t len) {
    auto* s = static_cast<Sink*>(self);
    try {
      write_all(s->fd, buf, len, "write layer tar");
      s->hash.update(buf, len);
      s->size += len;
      return static_cast<la_ssize_t>(len);
    } catch (const std::exception& e) {
      s->error = e.what();
      archive_set_error(a, EIO, "%s", e.what());
      return -1;
    }
  }
};

class DiffExporter {
 public:
  DiffExporter(std::string upper, int out_fd) : upper_(std::move(upper)) {
    sink_.fd = out_fd;
    ar_.reset(archive_write_new());
    if (!ar_) throw Error("archive_write_new failed");
    // pax keeps long names, nanosecond mtimes and xattrs; numeric ids only, no user names.
    if (archive_write_set_format_pax(ar_.get()) != ARCHIVE_OK ||
        archive_write_open2(ar_.get(), &sink_, nullptr, &Sink::write, nullptr, nullptr) !=
            ARCHIVE_OK)
      fail("open tar writer");
  }

  void run() {
    UniqueFd root(::open(upper_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open upper dir `" + upper_ + "`");
    walk(root.get(), "");
    if (archive_write_close(ar_.get()) != ARCHIVE_OK) fail("finish tar");
  }

  LayerInfo info() { return {sink_.hash.finish(), sink_.size}; }

 private:
  [[noreturn]] void fail(const std::string& doing) {
    throw Error("export `" + upper_ + "`: " + doing + ": " + detail::archive_message(ar_.get()));
  }

  std::string abs(const std::string& rel) const { return upper_ + "/" + rel; }

  void walk(int dirfd, const std::string& rel_dir) {
    for (const auto& name : sorted_names(dirfd, abs(rel_dir))) {
      std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("stat `" + abs(rel) + "`");
      if (is_whiteout_device(st)) {
        write_whiteout(rel_dir, name);
      } else if (S_ISDIR(st.st_mode)) {
        export_dir(dirfd, name, rel, st);
      } else if (S_ISREG(st.st_mode)) {
        export_file(dirfd, name, rel, st);
      } else if (S_ISSOCK(st.st_mode)) {
        continue;  // a tar cannot hold sockets; they are recreated by whoever listens
      } else {
        export_other(dirfd, name, rel, st);
      }
    }
  }

  Entry base_entry(const std::string& rel, const struct stat& st) {
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return e;
  }

  void check_markers(const Attrs& attrs, const std::string& rel) {
    if (attrs.redirect)
      throw Error("export `" + abs(rel) +
                  "`: overlay redirect (a renamed lower directory) cannot be written as a layer; "
                  "mount the overlay with redirect_dir=off");
    if (attrs.metacopy)
      throw Error("export `" + abs(rel) +
                  "`: overlay metacopy file has its data in a lower layer; mount with metacopy=off");
  }

  void add_xattrs(struct archive_entry* e, const Xattrs& xattrs) {
    for (const auto& [name, value] : xattrs)
      archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
  }

  void write_header(struct archive_entry* e, const std::string& rel) {
    int r = archive_write_header(ar_.get(), e);
    // WARN: a name not representable in the locale; libarchive then stores raw bytes.
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail("write header of `" + rel + "`");
  }

  void write_whiteout(const std::string& rel_dir, const std::string& name) {
    std::string rel = (rel_dir.empty() ? "" : rel_dir + "/") + ".wh." + name;
    write_marker(rel);
  }

  void write_marker(const std::string& rel) {
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0);
    archive_entry_set_size(e.get(), 0);
    write_header(e.get(), rel);
  }

  void export_dir(int parent, const std::string& name, const std::string& rel,
                  const struct stat& st) {
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("open dir `" + abs(rel) + "`");
    Attrs attrs = attrs_of_fd(fd.get(), abs(rel));
    check_markers(attrs, rel);
    Entry e = base_entry(rel, st);
    add_xattrs(e.get(), attrs.keep);
    write_header(e.get(), rel);
    // Right after the directory, before its entries: it hides everything below it.
    if (attrs.opaque) write_marker(rel + "/.wh..wh..opq");
    walk(fd.get(), rel);
  }

  // Second and later names of an inode become hard-link entries; returns whether it did that.
  bool write_if_hardlink(const std::string& rel, const struct stat& st) {
    if (st.st_nlink < 2) return false;
    auto key = std::make_pair(st.st_dev, st.st_ino);
    auto [it, inserted] = links_.emplace(key, rel);
    if (inserted) return false;
    Entry e = base_entry(rel, st);
    archive_entry_set_hardlink(e.get(), it->second.c_str());
    archive_entry_set_size(e.get(), 0);
    write_header(e.get(), rel);
    return true;
  }

  void export_file(int parent, const std::string& name, const std::string& rel,
                   const struct stat& st) {
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("open `" + abs(rel) + "`");
    Attrs attrs = attrs_of_fd(fd.get(), abs(rel));
    check_markers(attrs, rel);
    if (attrs.whiteout && st.st_size == 0) {  // xattr-style whiteout (a file, not a device)
      std::string rel_dir = rel == name ? "" : rel.substr(0, rel.size() - name.size() - 1);
      write_whiteout(rel_dir, name);
      return;
    }
    if (write_if_hardlink(rel, st)) return;
    Entry e = base_entry(rel, st);
    archive_entry_set_size(e.get(), st.st_size);
    add_xattrs(e.get(), attrs.keep);
    write_header(e.get(), rel);
    copy_data(fd.get(), rel, static_cast<uint64_t>(st.st_size));
  }

  void copy_data(int fd, const std::string& rel, uint64_t expected) {
    std::string buf(1 << 16, '\0');
    uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read `" + abs(rel) + "`");
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > expected) break;
      if (archive_write_data(ar_.get(), buf.data(), static_cast<size_t>(n)) != n)
        fail("write data of `" + rel + "`");
    }
    // The header already promised a size; a file changing under us would corrupt the tar.
    if (total != expected)
      throw Error("export `" + abs(rel) + "`: file changed size while being read");
  }

  void export_other(int parent, const std::string& name, const std::string& rel,
                    const struct stat& st) {
    Attrs attrs = attrs_of_path(abs(rel));
    check_markers(attrs, rel);
    if (write_if_hardlink(rel, st)) return;
    Entry e = base_entry(rel, st);
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(parent, name.c_str(), target.data(), target.size());
      if (n < 0) throw_errno("readlink `" + abs(rel) + "`");
      target.resize(static_cast<size_t>(n));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      archive_entry_set_rdevmajor(e.get(), major(st.st_rdev));
      archive_entry_set_rdevminor(e.get(), minor(st.st_rdev));
    }
    add_xattrs(e.get(), attrs.keep);
    write_header(e.get(), rel);
  }

  std::string upper_;
  Sink sink_;
  detail::ArchiveWriter ar_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

LayerInfo export_diff(const std::string& upper_dir, const std::string& out_tar_path, Durability durability) {
  detail::AtomicFile out(out_tar_path);
  LayerInfo info;
  {
    DiffExporter exporter(upper_dir, out.fd());
    exporter.run();
    info = exporter.info();
  }
  out.commit(durability == Durability::Now);
  return info;
}

void sync_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync `" + path + "`");
  detail::fsync_dir_of(path);
}

}  // namespace cryo::fsimage
