// Maps the `user` of an exec request ("", "root", "1000", "1000:1000", "name", "name:group")
// to ids, reading /etc/passwd and /etc/group of the sandbox (resolved in-root).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace cryo::sentry {

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // empty when unknown
};

// nullopt for "" (keep the container's default user). Throws cryo::Error for unknown names.
std::optional<ResolvedUser> resolve_user(int root_fd, const std::string& user);

}  // namespace cryo::sentry
