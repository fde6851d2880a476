#include "sentry/in_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "base/error.h"

namespace cryo::sentry {
namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    if (!part.empty() && part != ".") out.push_back(part);
    pos = next + 1;
  }
  return out;
}

}  // namespace

std::string normalize_path(const std::string& path) {
  std::string out;
  for (auto& c : components(path)) out += "/" + c;
  return out.empty() ? "/" : out;
}

UniqueFd open_in_root(int root_fd, const std::string& path, int flags, mode_t mode) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = normalize_path(path).substr(1);
  if (rel.empty()) rel = ".";
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    // The kernel asks for a retry when a rename raced with the lookup.
    if (errno == EAGAIN || errno == EINTR) continue;
    throw_errno("open `" + normalize_path(path) + "` in the sandbox");
  }
}

std::pair<UniqueFd, std::string> open_parent_in_root(int root_fd, const std::string& path) {
  auto parts = components(path);
  if (parts.empty()) throw Error("path `" + path + "`: is the sandbox root");
  std::string name = parts.back();
  if (name == "..") throw Error("path `" + path + "`: must not end in `..`");
  parts.pop_back();
  std::string parent;
  for (auto& p : parts) parent += "/" + p;
  return {open_in_root(root_fd, parent.empty() ? "/" : parent, O_PATH | O_DIRECTORY), name};
}

void make_dirs_in_root(int root_fd, const std::string& path, mode_t mode) {
  std::string prefix;
  for (auto& part : components(path)) {
    prefix += "/" + part;
    try {
      open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
      continue;
    } catch (const SysError& e) {
      if (e.code() != ENOENT) throw;
    }
    auto [parent, name] = open_parent_in_root(root_fd, prefix);
    if (::mkdirat(parent.get(), name.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir `" + prefix + "`");
    // Re-resolve: a racing symlink at `prefix` must still be confined (open_in_root checks it).
    open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);
  }
}

}  // namespace cryo::sentry
