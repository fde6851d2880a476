// import_layer: extracts a layer tar strictly inside a target directory.
//
// Every parent directory is resolved with openat2(RESOLVE_BENEATH) from a dirfd of the target,
// and every entry is created with *at() calls on that parent, never by joining path strings, so
// neither names like "../x" nor symlinks created by the tar itself can lead a write outside.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "base/error.h"
#include "base/file.h"
#include "fsimage/fsimage.h"
#include "fsimage/internal.h"

#ifndef SYS_setxattrat
#define SYS_setxattrat 463  // x86-64 and the generic table, Linux 6.13; older headers lack it
#endif

namespace cryo::fsimage {
namespace {

constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
// Hard-link targets and deferred fix-ups must name the real path: no symlinks at all.
constexpr uint64_t kStrict = kBeneath | RESOLVE_NO_SYMLINKS;

int sys_openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    // EAGAIN: a concurrent rename made the kernel unsure; the man page says retry.
    if (fd < 0 && errno == EAGAIN && attempt < 16) continue;
    return static_cast<int>(fd);
  }
}

// setxattrat(2) (Linux 6.13) sets an xattr on a symlink or special file named relative to a
// dirfd without following it. Older kernels: fall back to an O_PATH fd seen through /proc.
int set_xattr_at(int dirfd, const std::string& name, const std::string& attr,
                 const std::string& value) {
  struct {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
  } args = {reinterpret_cast<uintptr_t>(value.data()), static_cast<uint32_t>(value.size()), 0};
  long r = ::syscall(SYS_setxattrat, dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW, attr.c_str(),
                     &args, sizeof args);
  if (r == 0 || errno != ENOSYS) return static_cast<int>(r);
  UniqueFd fd(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return -1;
  std::string proc = "/proc/self/fd/" + std::to_string(fd.get());
  return ::setxattr(proc.c_str(), attr.c_str(), value.data(), value.size(), 0);
}

struct Split {
  std::string parent;  // "" is the target itself
  std::string name;
};

Split split_path(const std::string& rel) {
  auto slash = rel.find_last_of('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// rm -rf of `name` in `parent`, by fds only and without leaving the filesystem.
void remove_at(int parent, const std::string& name, dev_t dev) {
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw_errno("stat `" + name + "`");
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) throw SysError(EXDEV, "remove `" + name + "` (a mount point)");
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno("open `" + name + "`");
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      throw_errno("opendir `" + name + "`");
    }
    std::vector<std::string> children;
    while (struct dirent* ent = ::readdir(dir)) {
      if (std::strcmp(ent->d_name, ".") && std::strcmp(ent->d_name, ".."))
        children.emplace_back(ent->d_name);
    }
    try {
      for (const auto& child : children) remove_at(::dirfd(dir), child, dev);
    } catch (...) {
      ::closedir(dir);
      throw;
    }
    ::closedir(dir);
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0) throw_errno("rmdir `" + name + "`");
  } else if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
    throw_errno("unlink `" + name + "`");
  }
}

// Names of a directory's entries.
std::vector<std::string> list_dir(int dirfd) {
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) throw_errno("open directory");
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    ::close(dup);
    throw_errno("opendir");
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(dir)) {
    if (std::strcmp(ent->d_name, ".") && std::strcmp(ent->d_name, ".."))
      names.emplace_back(ent->d_name);
  }
  ::closedir(dir);
  return names;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Layer contents must not pose as overlay metadata (a redirect or metacopy xattr in a lower
// layer changes what overlayfs shows), so store them escaped the way overlayfs itself does.
std::string stored_xattr_name(const std::string& name) {
  for (const std::string prefix : {"trusted.overlay.", "user.overlay."})
    if (starts_with(name, prefix)) return prefix + "overlay." + name.substr(prefix.size());
  return name;
}

struct DeferredDir {
  std::string rel;
  mode_t mode;
  struct timespec mtime;
};

class LayerImporter {
 public:
  LayerImporter(const std::string& tar, const std::string& target, const ImportOptions& opts)
      : tar_(tar), opts_(opts) {
    root_.reset(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_) throw_errno("open import target `" + target + "`");
    struct stat st;
    if (::fstat(root_.get(), &st) != 0) throw_errno("stat import target `" + target + "`");
    dev_ = st.st_dev;
    ar_ = detail::open_tar_reader(tar);
  }

  void run() {
    for (;;) {
      struct archive_entry* e = nullptr;
      int r = archive_read_next_header(ar_.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        throw Error("import `" + tar_ + "`: read tar: " + detail::archive_message(ar_.get()));
      const char* raw = archive_entry_pathname(e);
      std::string name = raw ? raw : "";
      try {
        extract(e, name);
      } catch (const std::exception& ex) {
        throw Error("import `" + tar_ + "`: entry `" + name + "`: " + ex.what());
      }
    }
    finish_dirs();
  }

 private:
  void extract(struct archive_entry* e, const std::string& raw) {
    if (raw.empty()) throw Error("entry has no usable name");
    std::string rel = clean_entry_path(raw);
    Split sp = split_path(rel);
    if (starts_with(sp.name, ".wh.")) return whiteout(sp);
    if (const char* link = archive_entry_hardlink(e)) return hardlink(rel, sp, link);
    mode_t type = archive_entry_filetype(e);
    if (rel.empty()) {
      if (type != AE_IFDIR) throw Error("the root entry must be a directory");
      return root_dir(e);
    }
    switch (type) {
      case AE_IFDIR: return directory(e, rel, sp);
      case AE_IFREG: return regular(e, rel, sp);
      case AE_IFLNK: return symlink(e, rel, sp);
      case AE_IFIFO: return special(e, rel, sp, S_IFIFO, 0);
      case AE_IFCHR:
      case AE_IFBLK: return device(e, rel, sp, type);
      default: throw Error("unsupported entry type " + std::to_string(type));
    }
  }

  // ---- resolution --------------------------------------------------------------------------

  // Opens the parent directory `rel` inside the target, creating missing directories (tars
  // may omit them). Fails if any component is not a directory or leads outside.
  UniqueFd open_dir(const std::string& rel) {
    if (rel.empty()) return dup_root();
    int fd = sys_openat2(root_.get(), rel, O_RDONLY | O_DIRECTORY, kBeneath);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != ENOENT) resolve_error(errno, rel);
    UniqueFd cur = dup_root();
    std::string prefix;
    for (size_t start = 0; start <= rel.size();) {
      size_t end = rel.find('/', start);
      if (end == std::string::npos) end = rel.size();
      std::string comp = rel.substr(start, end - start);
      prefix = join(prefix, comp);
      fd = sys_openat2(root_.get(), prefix, O_RDONLY | O_DIRECTORY, kBeneath);
      if (fd < 0 && errno == ENOENT) {
        if (::mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
          throw_errno("create parent directory `" + prefix + "`");
        note_created(prefix);
        fd = sys_openat2(root_.get(), prefix, O_RDONLY | O_DIRECTORY, kBeneath);
      }
      if (fd < 0) resolve_error(errno, prefix);
      cur.reset(fd);
      start = end + 1;
    }
    return cur;
  }

  [[noreturn]] void resolve_error(int err, const std::string& rel) {
    if (err == EXDEV)
      throw Error("`" + rel + "` leads outside the target (through a symlink or mount point)");
    if (err == ENOTDIR) throw Error("`" + rel + "` is not a directory");
    if (err == ELOOP) throw Error("`" + rel + "` goes through a symlink that is not allowed here");
    throw SysError(err, "resolve `" + rel + "` inside the target");
  }

  UniqueFd dup_root() {
    int fd = ::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw_errno("dup target fd");
    return UniqueFd(fd);
  }

  // Makes room for a new entry `name`: removes whatever is there, except that an existing
  // directory stays when a directory is wanted. Returns whether a directory was kept.
  bool make_room(int parent, const std::string& name, bool want_dir) {
    struct stat st;
    if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      throw_errno("stat existing `" + name + "`");
    }
    if (S_ISDIR(st.st_mode) && want_dir) return true;
    remove_at(parent, name, dev_);
    return false;
  }

  // ---- metadata ----------------------------------------------------------------------------

  void set_xattrs_fd(int fd, struct archive_entry* e) {
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      std::string stored = stored_xattr_name(name);
      if (::fsetxattr(fd, stored.c_str(), value, size, 0) != 0 && !skippable_xattr_error())
        throw_errno("set xattr `" + stored + "`");
    }
  }

  void set_xattrs_at(int parent, const std::string& leaf, struct archive_entry* e) {
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      std::string stored = stored_xattr_name(name);
      std::string v(static_cast<const char*>(value), size);
      if (set_xattr_at(parent, leaf, stored, v) != 0 && !skippable_xattr_error())
        throw_errno("set xattr `" + stored + "`");
    }
  }

  // The filesystem cannot hold that namespace (ENOTSUP), or the kernel refuses user.* xattrs
  // on symlinks and special files (EPERM): nothing the layer could have meant to rely on.
  static bool skippable_xattr_error() { return errno == ENOTSUP || errno == EPERM; }

  static struct timespec mtime_of(struct archive_entry* e) {
    struct timespec ts = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    if (!archive_entry_mtime_is_set(e)) ts = {0, UTIME_OMIT};
    return ts;
  }

  // Owner before mode (chown clears set-id bits), xattrs after chown (it clears file caps).
  void apply_fd(int fd, struct archive_entry* e, bool with_times) {
    if (::fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) != 0) throw_errno("chown");
    if (::fchmod(fd, archive_entry_perm(e)) != 0) throw_errno("chmod");
    set_xattrs_fd(fd, e);
    if (with_times) {
      struct timespec ts[2] = {{0, UTIME_OMIT}, mtime_of(e)};
      if (::futimens(fd, ts) != 0) throw_errno("set mtime");
    }
  }

  void apply_at(int parent, const std::string& leaf, struct archive_entry* e, bool is_link) {
    if (::fchownat(parent, leaf.c_str(), archive_entry_uid(e), archive_entry_gid(e),
                   AT_SYMLINK_NOFOLLOW) != 0)
      throw_errno("chown");
    if (!is_link && ::fchmodat(parent, leaf.c_str(), archive_entry_perm(e), AT_SYMLINK_NOFOLLOW))
      throw_errno("chmod");
    set_xattrs_at(parent, leaf, e);
    struct timespec ts[2] = {{0, UTIME_OMIT}, mtime_of(e)};
    if (::utimensat(parent, leaf.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("set mtime");
  }

  // ---- entry kinds -------------------------------------------------------------------------

  void root_dir(struct archive_entry* e) {
    apply_fd(root_.get(), e, false);
    dirs_.push_back({"", archive_entry_perm(e), mtime_of(e)});
  }

  void directory(struct archive_entry* e, const std::string& rel, const Split& sp) {
    UniqueFd parent = open_dir(sp.parent);
    if (!make_room(parent.get(), sp.name, true) && ::mkdirat(parent.get(), sp.name.c_str(), 0700))
      throw_errno("mkdir");
    UniqueFd fd(
        ::openat(parent.get(), sp.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("open new directory");
    // Mode and mtime wait until the end: children created later would change the mtime.
    if (::fchown(fd.get(), archive_entry_uid(e), archive_entry_gid(e)) != 0) throw_errno("chown");
    set_xattrs_fd(fd.get(), e);
    dirs_.push_back({rel, archive_entry_perm(e), mtime_of(e)});
    note_created(rel);
  }

  void regular(struct archive_entry* e, const std::string& rel, const Split& sp) {
    UniqueFd parent = open_dir(sp.parent);
    make_room(parent.get(), sp.name, false);
    // O_EXCL|O_NOFOLLOW: always a fresh inode, never a write through a link or symlink.
    UniqueFd fd(::openat(parent.get(), sp.name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw_errno("create file");
    write_data(fd.get(), archive_entry_size(e));
    apply_fd(fd.get(), e, true);
    note_created(rel);
  }

  void write_data(int fd, int64_t size) {
    const void* buf;
    size_t len;
    la_int64_t offset;
    for (;;) {
      int r = archive_read_data_block(ar_.get(), &buf, &len, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        throw Error("read data: " + detail::archive_message(ar_.get()));
      const char* p = static_cast<const char*>(buf);
      while (len > 0) {  // pwrite at libarchive's offsets keeps sparse files sparse
        ssize_t n = ::pwrite(fd, p, len, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("write data");
        p += n;
        len -= static_cast<size_t>(n);
        offset += n;
      }
    }
    if (size > 0 && ::ftruncate(fd, size) != 0) throw_errno("set file size");
  }

  void symlink(struct archive_entry* e, const std::string& rel, const Split& sp) {
    const char* target = archive_entry_symlink(e);
    if (!target || !*target) throw Error("symlink without a target");
    UniqueFd parent = open_dir(sp.parent);
    make_room(parent.get(), sp.name, false);
    // The link text may point anywhere; it is never followed while extracting.
    if (::symlinkat(target, parent.get(), sp.name.c_str()) != 0) throw_errno("create symlink");
    apply_at(parent.get(), sp.name, e, true);
    note_created(rel);
  }

  void device(struct archive_entry* e, const std::string& rel, const Split& sp, mode_t type) {
    if (!opts_.allow_devices)
      throw Error(std::string(type == AE_IFCHR ? "character" : "block") +
                  " device node refused (devices are not allowed in this import)");
    dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    special(e, rel, sp, type == AE_IFCHR ? S_IFCHR : S_IFBLK, dev);
  }

  void special(struct archive_entry* e, const std::string& rel, const Split& sp, mode_t type,
               dev_t dev) {
    UniqueFd parent = open_dir(sp.parent);
    make_room(parent.get(), sp.name, false);
    if (::mknodat(parent.get(), sp.name.c_str(), type | 0600, dev) != 0) throw_errno("mknod");
    apply_at(parent.get(), sp.name, e, false);
    note_created(rel);
  }

  void hardlink(const std::string& rel, const Split& sp, const char* link) {
    std::string target = clean_entry_path(link);
    if (target.empty() || target == rel) throw Error("hard link to `" + std::string(link) + "`");
    Split tsp = split_path(target);
    // The target must be a real path inside the target dir: no symlinks on the way.
    int tfd = sys_openat2(root_.get(), tsp.parent.empty() ? "." : tsp.parent,
                          O_PATH | O_DIRECTORY, kStrict);
    if (tfd < 0) resolve_error(errno, tsp.parent.empty() ? "." : tsp.parent);
    UniqueFd tparent(tfd);
    struct stat st;
    if (::fstatat(tparent.get(), tsp.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      throw SysError(errno, "hard link target `" + target + "`");
    if (S_ISDIR(st.st_mode)) throw Error("hard link to directory `" + target + "`");
    UniqueFd parent = open_dir(sp.parent);
    make_room(parent.get(), sp.name, false);
    // Flags 0: link the named inode itself, even if it is a symlink, never what it points to.
    if (::linkat(tparent.get(), tsp.name.c_str(), parent.get(), sp.name.c_str(), 0) != 0)
      throw_errno("hard link to `" + target + "`");
    note_created(rel);
  }

  void whiteout(const Split& sp) {
    if (sp.name == ".wh..wh..opq") return opaque(sp.parent);
    if (starts_with(sp.name, ".wh..wh.")) return;  // other AUFS metadata: meaningless here
    std::string victim = sp.name.substr(4);
    if (victim.empty() || victim == "." || victim == "..")
      throw Error("whiteout names no entry");
    // A whiteout hides lower layers only, never an entry of its own layer.
    if (created_.count(join(sp.parent, victim))) return;
    UniqueFd parent = open_dir(sp.parent);
    make_room(parent.get(), victim, false);
    if (opts_.overlay_whiteouts &&
        ::mknodat(parent.get(), victim.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0)
      throw_errno("create whiteout device");
  }

  void opaque(const std::string& dir) {
    UniqueFd fd = open_dir(dir);
    if (opts_.overlay_whiteouts) {
      if (::fsetxattr(fd.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        throw_errno("mark directory opaque");
      return;
    }
    prune(fd.get(), dir);
  }

  // Flattening an opaque dir: drop what lower layers put in it, keep what this layer added
  // (which the tar may have listed before the opaque marker), however deep.
  void prune(int dirfd, const std::string& dir) {
    for (const auto& child : list_dir(dirfd)) {
      std::string rel = join(dir, child);
      if (!created_.count(rel) && !touched_.count(rel)) {
        remove_at(dirfd, child, dev_);
        continue;
      }
      struct stat st;
      if (::fstatat(dirfd, child.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        throw_errno("stat `" + rel + "`");
      if (!S_ISDIR(st.st_mode)) continue;
      // A directory of this layer that already existed below still holds lower entries.
      UniqueFd fd(::openat(dirfd, child.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) throw_errno("open `" + rel + "`");
      prune(fd.get(), rel);
    }
  }

  // Records a path this layer put in place; its ancestors become "touched" directories.
  void note_created(const std::string& rel) {
    created_.insert(rel);
    for (auto slash = rel.find_last_of('/'); slash != std::string::npos;
         slash = rel.find_last_of('/', slash - 1)) {
      if (!touched_.insert(rel.substr(0, slash)).second || slash == 0) break;
    }
  }

  void finish_dirs() {
    for (const auto& d : dirs_) {
      UniqueFd fd;
      if (d.rel.empty()) {
        fd = dup_root();
      } else {
        int raw = sys_openat2(root_.get(), d.rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, kStrict);
        if (raw < 0) continue;  // replaced by a later entry of another type
        fd.reset(raw);
      }
      const std::string what = "import `" + tar_ + "`: directory `" + d.rel + "`: ";
      if (::fchmod(fd.get(), d.mode) != 0) throw SysError(errno, what + "chmod");
      struct timespec ts[2] = {{0, UTIME_OMIT}, d.mtime};
      if (::futimens(fd.get(), ts) != 0) throw SysError(errno, what + "set mtime");
    }
  }

  std::string tar_;
  ImportOptions opts_;
  UniqueFd root_;
  dev_t dev_ = 0;
  detail::ArchiveReader ar_;
  std::vector<DeferredDir> dirs_;
  std::unordered_set<std::string> created_;  // paths this layer has put in place
  std::unordered_set<std::string> touched_;  // directories with such paths below them
};

}  // namespace

std::string clean_entry_path(const std::string& name) {
  if (name.empty()) throw Error("empty entry name");
  if (name[0] == '/') throw Error("absolute path `" + name + "` refused");
  std::string out;
  for (size_t start = 0; start <= name.size();) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string comp = name.substr(start, end - start);
    if (comp == "..") throw Error("`..` in path `" + name + "` refused");
    if (!comp.empty() && comp != ".") out = join(out, comp);
    start = end + 1;
  }
  return out;
}

void import_layer(const std::string& tar_path, const std::string& target_dir,
                  const ImportOptions& options) {
  LayerImporter importer(tar_path, target_dir, options);
  importer.run();
}

}  // namespace cryo::fsimage
