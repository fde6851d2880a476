#include "sentry/user.h"

#include <fcntl.h>

#include <cctype>
#include <vector>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"
#include "sentry/in_root.h"

namespace cryo::sentry {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Lines of an in-root file split on ':'; empty when the file is missing.
std::vector<std::vector<std::string>> read_db(int root_fd, const std::string& path) {
  std::string text;
  try {
    text = read_fd(open_in_root(root_fd, path, O_RDONLY).get());
  } catch (const SysError& e) {
    if (e.code() == ENOENT) return {};
    throw;
  }
  std::vector<std::vector<std::string>> out;
  for (auto& line : split(text, '\n'))
    if (!line.empty() && line[0] != '#') out.push_back(split(line, ':'));
  return out;
}

}  // namespace

std::optional<ResolvedUser> resolve_user(int root_fd, const std::string& user) {
  if (user.empty()) return std::nullopt;
  auto colon = user.find(':');
  std::string name = user.substr(0, colon);
  std::string group = colon == std::string::npos ? "" : user.substr(colon + 1);
  ResolvedUser r;
  bool found = false;
  for (auto& f : read_db(root_fd, "/etc/passwd")) {
    if (f.size() < 6) continue;
    if (f[0] == name || (all_digits(name) && f[2] == name)) {
      r.uid = static_cast<uid_t>(std::stoul(f[2]));
      r.gid = static_cast<gid_t>(std::stoul(f[3]));
      r.home = f[5];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!all_digits(name)) throw Error("user `" + name + "` is not in the sandbox's /etc/passwd");
    r.uid = static_cast<uid_t>(std::stoul(name));
    r.gid = r.uid;
  }
  if (!group.empty()) {
    if (all_digits(group)) {
      r.gid = static_cast<gid_t>(std::stoul(group));
    } else {
      bool known = false;
      for (auto& f : read_db(root_fd, "/etc/group"))
        if (f.size() >= 3 && f[0] == group) {
          r.gid = static_cast<gid_t>(std::stoul(f[2]));
          known = true;
          break;
        }
      if (!known) throw Error("group `" + group + "` is not in the sandbox's /etc/group");
    }
  }
  return r;
}

}  // namespace cryo::sentry
