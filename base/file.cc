#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace cryo {

UniqueFd open_or_throw(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open `" + path + "`");
  return UniqueFd(fd);
}

std::string read_fd(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read");
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<std::string> read_file_if_exists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  if (fd < 0) throw_errno("open `" + path + "`");
  UniqueFd guard(fd);
  try {
    return read_fd(fd);
  } catch (const SysError& e) {
    throw SysError(e.code(), "read `" + path + "`");
  }
}

std::string read_file(const std::string& path) {
  auto data = read_file_if_exists(path);
  if (!data) throw SysError(ENOENT, "open `" + path + "`");
  return *data;
}

void write_all(int fd, const void* data, size_t len, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void write_existing_file(const std::string& path, const std::string& data) {
  UniqueFd fd = open_or_throw(path, O_WRONLY);
  write_all(fd.get(), data.data(), data.size(), "write `" + data + "` to `" + path + "`");
}

namespace {
void replace_file(const std::string& path, const std::string& data, mode_t mode, bool durable) {
  std::string tmp = path + ".tmp";
  {
    UniqueFd fd = open_or_throw(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    write_all(fd.get(), data.data(), data.size(), "write `" + tmp + "`");
    if (durable && ::fsync(fd.get()) != 0) throw_errno("fsync `" + tmp + "`");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename `" + tmp + "` to `" + path + "`");
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
  replace_file(path, data, mode, true);
}

void write_file_replace(const std::string& path, const std::string& data, mode_t mode) {
  replace_file(path, data, mode, false);
}

bool make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw SysError(ENOTDIR, "mkdir `" + path + "`");
    return false;
  }
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_dirs(path.substr(0, slash), mode);
  if (::mkdir(path.c_str(), mode) != 0) {
    if (errno == EEXIST) return false;
    throw_errno("mkdir `" + path + "`");
  }
  return true;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) throw_errno("resolve `" + path + "`");
  return buf;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

static void remove_tree_at(int parent, const char* name, dev_t dev) {
  struct stat st;
  if (::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw_errno(std::string("stat `") + name + "`");
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) throw SysError(EBUSY, std::string("remove `") + name + "` (a mount point)");
    int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno(std::string("open `") + name + "`");
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      throw_errno(std::string("opendir `") + name + "`");
    }
    while (struct dirent* ent = ::readdir(dir)) {
      if (!std::strcmp(ent->d_name, ".") || !std::strcmp(ent->d_name, "..")) continue;
      try {
        remove_tree_at(fd, ent->d_name, dev);
      } catch (...) {
        ::closedir(dir);
        throw;
      }
    }
    ::closedir(dir);
    if (::unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
      throw_errno(std::string("rmdir `") + name + "`");
  } else if (::unlinkat(parent, name, 0) != 0 && errno != ENOENT) {
    throw_errno(std::string("unlink `") + name + "`");
  }
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw_errno("stat `" + path + "`");
  }
  try {
    remove_tree_at(AT_FDCWD, path.c_str(), st.st_dev);
  } catch (const SysError& e) {
    throw SysError(e.code(), "remove `" + path + "`: " + e.what());
  }
}

std::string executable_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw_errno("readlink /proc/self/exe");
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.find_last_of('/'));
}

}  // namespace cryo
