// Test helpers: temp dirs that unmount what is left under them, a tar builder, tree snapshots.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/file.h"

namespace cryo::fsimage::testing {

// A fresh directory under /tmp, removed on destruction after detaching any mounts below it
// (so a failed assertion in the middle of a mount test leaves nothing behind).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cryo-fsimage-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    for (const auto& m : mounts_below()) ::umount2(m.c_str(), MNT_DETACH);
    try {
      remove_tree(path_);
    } catch (...) {
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  std::string mkdir(const std::string& rel) const {
    make_dirs(*this / rel);
    return *this / rel;
  }

 private:
  std::vector<std::string> mounts_below() const {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string id, parent, devno, root, mnt;
      fields >> id >> parent >> devno >> root >> mnt;
      if (mnt.compare(0, path_.size() + 1, path_ + "/") == 0) out.push_back(mnt);
    }
    std::sort(out.rbegin(), out.rend());  // deepest first
    return out;
  }
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  write_all(fd, data.data(), data.size(), "write " + path);
  ::close(fd);
}

// Builds a tar entry by entry, including entries no sane tool would write.
class TarBuilder {
 public:
  explicit TarBuilder(const std::string& path, bool gzip = false) {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    if (gzip) archive_write_add_filter_gzip(a_);
    if (archive_write_open_filename(a_, path.c_str()) != ARCHIVE_OK)
      throw std::runtime_error("open tar " + path);
  }
  ~TarBuilder() { close(); }
  void close() {
    if (!a_) return;
    archive_write_close(a_);
    archive_write_free(a_);
    a_ = nullptr;
  }
  void file(const std::string& name, const std::string& data, mode_t mode = 0644) {
    add(name, AE_IFREG, mode, [&](archive_entry* e) { archive_entry_set_size(e, data.size()); });
    archive_write_data(a_, data.data(), data.size());
  }
  void dir(const std::string& name, mode_t mode = 0755) { add(name, AE_IFDIR, mode, nullptr); }
  void symlink(const std::string& name, const std::string& target) {
    add(name, AE_IFLNK, 0777, [&](archive_entry* e) { archive_entry_set_symlink(e, target.c_str()); });
  }
  void hardlink(const std::string& name, const std::string& target) {
    add(name, AE_IFREG, 0644, [&](archive_entry* e) {
      archive_entry_set_hardlink(e, target.c_str());
      archive_entry_set_size(e, 0);
    });
  }
  void chardev(const std::string& name, unsigned maj, unsigned min) {
    add(name, AE_IFCHR, 0666, [&](archive_entry* e) {
      archive_entry_set_rdevmajor(e, maj);
      archive_entry_set_rdevminor(e, min);
    });
  }

 private:
  void add(const std::string& name, mode_t type, mode_t mode,
           const std::function<void(archive_entry*)>& extra) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (extra) extra(e);
    if (archive_write_header(a_, e) != ARCHIVE_OK)
      throw std::runtime_error("tar header " + name + ": " + archive_error_string(a_));
    archive_entry_free(e);
  }
  struct archive* a_ = nullptr;
};

// What a tree looks like to a user: everything but inode and device numbers.
struct Node {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t mtime_s = 0;
  long mtime_ns = 0;
  std::string data;  // file contents or symlink target
  dev_t rdev = 0;
  std::string link_group;  // for nlink > 1: first path (sorted) with the same inode
  std::map<std::string, std::string> xattrs;
  bool operator==(const Node&) const = default;
};

inline std::string describe(const Node& n) {
  std::ostringstream o;
  o << "mode=" << std::oct << n.mode << std::dec << " uid=" << n.uid << " gid=" << n.gid
    << " mtime=" << n.mtime_s << "." << n.mtime_ns << " data=" << n.data.size() << "B:"
    << n.data.substr(0, 40) << " rdev=" << n.rdev << " links=" << n.link_group << " xattrs={";
  for (auto& [k, v] : n.xattrs) o << k << "=" << v << ",";
  return o.str() + "}";
}

inline std::map<std::string, std::string> xattrs_of(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[4096];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof names);
  for (ssize_t pos = 0; pos < n;) {
    std::string name(names + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    char value[4096];
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
    if (v >= 0) out[name] = std::string(value, static_cast<size_t>(v));
  }
  return out;
}

inline void snapshot_into(const std::string& root, const std::string& rel,
                          std::map<std::string, Node>& out,
                          std::map<ino_t, std::string>& inodes) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw std::runtime_error("opendir " + dir);
  std::vector<std::string> names;
  while (auto* ent = ::readdir(d))
    if (std::strcmp(ent->d_name, ".") && std::strcmp(ent->d_name, ".."))
      names.emplace_back(ent->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    std::string p = root + "/" + r;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p);
    Node n;
    n.mode = st.st_mode;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mtime_s = st.st_mtim.tv_sec;
    n.mtime_ns = st.st_mtim.tv_nsec;
    n.xattrs = xattrs_of(p);
    if (S_ISREG(st.st_mode)) n.data = read_file(p);
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t len = ::readlink(p.c_str(), buf, sizeof buf);
      n.data.assign(buf, static_cast<size_t>(std::max<ssize_t>(len, 0)));
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) n.rdev = st.st_rdev;
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) n.link_group = inodes.emplace(st.st_ino, r).first->second;
    out[r] = n;
    if (S_ISDIR(st.st_mode)) snapshot_into(root, r, out, inodes);
  }
}

// Every path below root (root itself excluded) with its metadata and contents.
inline std::map<std::string, Node> snapshot(const std::string& root) {
  std::map<std::string, Node> out;
  std::map<ino_t, std::string> inodes;
  snapshot_into(root, "", out, inodes);
  return out;
}

// A readable account of how two snapshots differ ("" when equal).
inline std::string diff(const std::map<std::string, Node>& want,
                        const std::map<std::string, Node>& got) {
  std::string out;
  for (auto& [path, n] : want) {
    auto it = got.find(path);
    if (it == got.end()) out += "missing: " + path + "\n";
    else if (!(it->second == n))
      out += "differs: " + path + "\n  want " + describe(n) + "\n  got  " + describe(it->second) + "\n";
  }
  for (auto& [path, n] : got)
    if (!want.count(path)) out += "extra: " + path + " " + describe(n) + "\n";
  return out;
}

}  // namespace cryo::fsimage::testing
