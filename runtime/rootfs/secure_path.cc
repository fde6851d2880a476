#include "runtime/rootfs/secure_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

UniqueFd open_in_root(int root_fd, const std::string& path, Create create) {
  std::string clean = clean_path(path);
  std::string rel = clean == "/" ? "." : clean.substr(1);
  int fd = openat2_in_root(root_fd, rel, O_PATH);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOENT || create == Create::None) throw_errno("resolve `" + clean + "` in the container root");

  // Create the parent in-root first, then the leaf relative to the parent's fd.
  auto slash = clean.find_last_of('/');
  std::string parent = clean.substr(0, slash == 0 ? 1 : slash);
  std::string leaf = clean.substr(slash + 1);
  UniqueFd parent_fd = open_in_root(root_fd, parent, Create::Dir);
  UniqueFd dir(::openat(parent_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno("open `" + parent + "` in the container root");
  int rc = create == Create::File ? ::mknodat(dir.get(), leaf.c_str(), S_IFREG | 0644, 0)
                                  : ::mkdirat(dir.get(), leaf.c_str(), 0755);
  if (rc != 0 && errno != EEXIST) throw_errno("create `" + clean + "` in the container root");
  fd = openat2_in_root(root_fd, rel, O_PATH);
  if (fd < 0) throw_errno("resolve `" + clean + "` in the container root");
  return UniqueFd(fd);
}

}  // namespace cryo::runtime
