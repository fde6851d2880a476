#include "runtime/rootfs/secure_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <optional>
#include <vector>

#include "base/error.h"

namespace cryo::runtime {
namespace {

int openat2_in_root(int root_fd, const std::string& rel, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
}

}  // namespace

std::string clean_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = next + 1;
  }
  std::string out;
  for (auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

namespace {

constexpr int kMaxSymlinks = 40;

// Where `fd` is, as seen from inside the root `root_fd` ("/" for the root itself).
std::string path_in_root(int root_fd, int fd) {
  char root[PATH_MAX], here[PATH_MAX];
  ssize_t r = ::readlink(fd_path(root_fd).c_str(), root, sizeof root - 1);
  ssize_t h = ::readlink(fd_path(fd).c_str(), here, sizeof here - 1);
  if (r < 0 || h < 0) throw_errno("read the path of an fd in the container root");
  std::string rs(root, static_cast<size_t>(r)), hs(here, static_cast<size_t>(h));
  if (rs == "/") return clean_path(hs);
  if (hs == rs) return "/";
  if (hs.rfind(rs + "/", 0) != 0) throw Error("`" + hs + "` is outside the container root `" + rs + "`");
  return hs.substr(rs.size());
}

// The target of `leaf` in `dir` if it is a symlink, as an in-root path; nullopt otherwise.
std::optional<std::string> symlink_target(int root_fd, int dir_fd, const std::string& leaf) {
  struct stat st;
  if (::fstatat(dir_fd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) return std::nullopt;
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(dir_fd, leaf.c_str(), buf, sizeof buf - 1);
  if (n < 0) throw_errno("readlink `" + leaf + "` in the container root");
  std::string target(buf, static_cast<size_t>(n));
  if (target[0] == '/') return clean_path(target);
  return clean_path(path_in_root(root_fd, dir_fd) + "/" + target);
}

UniqueFd open_in_root_depth(int root_fd, const std::string& clean, Create create, int links) {
  std::string rel = clean == "/" ? "." : clean.substr(1);
  int fd = openat2_in_root(root_fd, rel, O_PATH);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOENT || create == Create::None) throw_errno("resolve `" + clean + "` in the container root");

  // Create the parent in-root first, then the leaf relative to the parent's fd.
  auto slash = clean.find_last_of('/');
  std::string parent = clean.substr(0, slash == 0 ? 1 : slash);
  std::string leaf = clean.substr(slash + 1);
  UniqueFd parent_fd = open_in_root_depth(root_fd, parent, Create::Dir, links);
  // A dangling symlink: create what it points to, resolved inside the root (as runc's securejoin).
  if (auto target = symlink_target(root_fd, parent_fd.get(), leaf)) {
    if (links >= kMaxSymlinks) throw SysError(ELOOP, "resolve `" + clean + "` in the container root");
    return open_in_root_depth(root_fd, *target, create, links + 1);
  }
  UniqueFd dir(::openat(parent_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno("open `" + parent + "` in the container root");
  int rc = create == Create::File ? ::mknodat(dir.get(), leaf.c_str(), S_IFREG | 0644, 0)
                                  : ::mkdirat(dir.get(), leaf.c_str(), 0755);
  if (rc != 0 && errno != EEXIST) throw_errno("create `" + clean + "` in the container root");
  fd = openat2_in_root(root_fd, rel, O_PATH);
  if (fd < 0) throw_errno("resolve `" + clean + "` in the container root");
  return UniqueFd(fd);
}

}  // namespace

UniqueFd open_in_root(int root_fd, const std::string& path, Create create) {
  return open_in_root_depth(root_fd, clean_path(path), create, 0);
}

}  // namespace cryo::runtime
