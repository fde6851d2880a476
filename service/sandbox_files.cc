#include "service/sandbox_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "base/error.h"
#include "base/file.h"
#include "sentry/in_root.h"

namespace cryo::service::sandbox_files {
namespace {

using sentry::normalize_path;
using sentry::open_in_root;
using sentry::open_parent_in_root;

void check_path(const std::string& path) {
  if (path.empty() || path[0] != '/') throw BadRequest("path `" + path + "`: must be absolute");
  if (path.find('\0') != std::string::npos) throw BadRequest("path holds a NUL byte");
}

// Turns errno-carrying failures into the errors the HTTP layer maps (404, 400, 409).
[[noreturn]] void rethrow_mapped(const std::string& path) {
  try {
    throw;
  } catch (const SysError& e) {
    switch (e.code()) {
      case ENOENT:
      case ENOTDIR:
        throw NotFound("path `" + path + "` not found");
      case EISDIR:
        throw BadRequest("path `" + path + "`: is a directory");
      case ENOTEMPTY:
      case EEXIST:
      case EBUSY:
        throw Conflict("path `" + path + "`: " + e.what());
      case ELOOP:
      case EXDEV:
      case EROFS:
      case EACCES:
      case EPERM:
      case ENAMETOOLONG:
        throw BadRequest("path `" + path + "`: " + e.what());
      default:
        throw;
    }
  }
}

template <typename F>
auto mapped(const std::string& path, F&& f) {
  check_path(path);
  try {
    return f();
  } catch (const NotFound&) {
    throw;
  } catch (const BadRequest&) {
    throw;
  } catch (const Conflict&) {
    throw;
  } catch (const SysError&) {
    rethrow_mapped(path);
  }
}

std::string type_of(mode_t m) {
  return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

FileEntry make_entry(const std::string& path, const struct stat& st) {
  FileEntry e;
  e.path = normalize_path(path);
  auto slash = e.path.find_last_of('/');
  e.name = e.path == "/" ? "/" : e.path.substr(slash + 1);
  e.type = type_of(st.st_mode);
  e.size = st.st_size;
  e.mode = st.st_mode & 07777;
  e.mtime = st.st_mtime;
  return e;
}

struct stat lstat_at(int dir_fd, const std::string& name, const std::string& what) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("stat `" + what + "`");
  return st;
}

// rm -rf below an open parent; names are single components, never followed.
void remove_below(int parent_fd, const std::string& name, dev_t dev, const std::string& what) {
  struct stat st = lstat_at(parent_fd, name, what);
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) throw SysError(EBUSY, "remove `" + what + "`: a mount point is in the way");
    UniqueFd dir(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) throw_errno("open `" + what + "`");
    std::vector<std::string> children;
    {
      DIR* d = ::fdopendir(::dup(dir.get()));
      if (!d) throw_errno("read directory `" + what + "`");
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") children.push_back(n);
      }
      ::closedir(d);
    }
    for (auto& c : children) remove_below(dir.get(), c, dev, what + "/" + c);
    if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) throw_errno("remove `" + what + "`");
  } else if (::unlinkat(parent_fd, name.c_str(), 0) != 0) {
    throw_errno("remove `" + what + "`");
  }
}

std::string temp_name(const std::string& name) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return "." + name.substr(0, 200) + ".cryo-" + buf;
}

}  // namespace

std::string read(int root_fd, const std::string& path) {
  return mapped(path, [&] {
    // O_NONBLOCK: opening a fifo planted in the sandbox must not hang cryod.
    UniqueFd fd = open_in_root(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno("stat `" + path + "`");
    if (S_ISDIR(st.st_mode)) throw BadRequest("path `" + path + "`: is a directory");
    if (!S_ISREG(st.st_mode)) throw BadRequest("path `" + path + "`: not a regular file");
    return read_fd(fd.get());
  });
}

void write(int root_fd, const std::string& path, std::string_view data, uint32_t mode) {
  mapped(path, [&] {
    std::string norm = normalize_path(path);
    if (norm == "/") throw BadRequest("path `/`: is a directory");
    auto slash = norm.find_last_of('/');
    sentry::make_dirs_in_root(root_fd, slash == 0 ? "/" : norm.substr(0, slash));
    auto [parent, name] = open_parent_in_root(root_fd, norm);
    std::string tmp = temp_name(name);
    // O_EXCL|O_NOFOLLOW on a single component below a confined parent: nothing is followed.
    UniqueFd fd(::openat(parent.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw_errno("create `" + norm + "`");
    try {
      write_all(fd.get(), data.data(), data.size(), "write `" + norm + "`");
      if (::fchmod(fd.get(), mode ? mode : 0644) != 0) throw_errno("chmod `" + norm + "`");
      fd.reset();
      struct stat st {};
      if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        throw BadRequest("path `" + path + "`: is a directory");
      if (::renameat(parent.get(), tmp.c_str(), parent.get(), name.c_str()) != 0) throw_errno("replace `" + norm + "`");
    } catch (...) {
      ::unlinkat(parent.get(), tmp.c_str(), 0);
      throw;
    }
  });
}

std::vector<FileEntry> list(int root_fd, const std::string& path) {
  return mapped(path, [&] {
    std::string norm = normalize_path(path);
    UniqueFd dir;
    try {
      dir = open_in_root(root_fd, norm, O_RDONLY | O_DIRECTORY);
    } catch (const SysError& e) {
      if (e.code() != ENOTDIR) throw;
      open_in_root(root_fd, norm, O_PATH);  // ENOENT when a parent is missing
      throw BadRequest("path `" + path + "`: not a directory");
    }
    std::vector<FileEntry> out;
    DIR* d = ::fdopendir(::dup(dir.get()));
    if (!d) throw_errno("read directory `" + norm + "`");
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // removed meanwhile
      out.push_back(make_entry(norm == "/" ? "/" + n : norm + "/" + n, st));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
    return out;
  });
}

FileEntry stat(int root_fd, const std::string& path) {
  return mapped(path, [&] {
    std::string norm = normalize_path(path);
    struct stat st {};
    if (norm == "/") {
      UniqueFd root = open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
      if (::fstat(root.get(), &st) != 0) throw_errno("stat `/`");
    } else {
      auto [parent, name] = open_parent_in_root(root_fd, norm);
      st = lstat_at(parent.get(), name, norm);
    }
    return make_entry(norm, st);
  });
}

void remove(int root_fd, const std::string& path, bool recursive) {
  mapped(path, [&] {
    std::string norm = normalize_path(path);
    if (norm == "/") throw BadRequest("path `/`: cannot remove the root");
    auto [parent, name] = open_parent_in_root(root_fd, norm);
    struct stat st = lstat_at(parent.get(), name, norm);
    if (S_ISDIR(st.st_mode) && recursive) {
      remove_below(parent.get(), name, st.st_dev, norm);
    } else if (S_ISDIR(st.st_mode)) {
      if (::unlinkat(parent.get(), name.c_str(), AT_REMOVEDIR) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) throw Conflict("path `" + path + "`: directory not empty");
        throw_errno("remove `" + norm + "`");
      }
    } else if (::unlinkat(parent.get(), name.c_str(), 0) != 0) {
      throw_errno("remove `" + norm + "`");
    }
  });
}

void make_dir(int root_fd, const std::string& path) {
  mapped(path, [&] {
    try {
      sentry::make_dirs_in_root(root_fd, path);
    } catch (const SysError& e) {
      if (e.code() == ENOTDIR) throw Conflict("path `" + path + "`: a file is in the way");
      throw;
    }
  });
}

}  // namespace cryo::service::sandbox_files
