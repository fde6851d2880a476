// Syscall supervision in user space: the sandbox's seccomp profile sends chosen system calls to
// the sentry through user-notification listeners (SCMP_ACT_NOTIFY); the sentry decides each one
// by its rule and keeps an audit log of what it saw, as JSON lines.
//
// Listeners arrive two ways: from cryo when it creates the container (the runtime-spec's
// listenerPath protocol: a JSON state with the fd, on <sandbox>/supervisor.sock), and from every
// command the sentry starts (each loads its own copy of the filter and sends its listener before
// it executes anything).
//
// Rules: allow (let it run, not recorded), log (let it run, recorded), deny (fail it with an
// errno, recorded). "allow" and "log" answer with SECCOMP_USER_NOTIF_FLAG_CONTINUE, which is
// fine for observing; a deny never lets the call run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "sentry/supervision_rule.h"

namespace cryo::sentry {

// Parses and checks rules (unknown syscall or action, errno out of range: Error naming the rule).
std::vector<SupervisionRule> supervision_rules_from_json(const nlohmann::json& j);

class Supervisor {
 public:
  Supervisor(const std::vector<SupervisionRule>& rules, std::string audit_path);

  // Listens on `socket_path` for listeners handed over by the runtime.
  void listen(const std::string& socket_path);
  int listen_fd() const { return listen_.get(); }
  // Accepts handed-over listeners (call when listen_fd() is readable).
  void accept_handovers();

  void add_listener(UniqueFd listener);
  std::vector<int> listener_fds() const;
  // A listener is readable: answers one notification. Hung up (no process uses the filter any
  // more): forgets it.
  void on_listener(int fd, short revents);

  uint64_t decided() const { return decided_; }

 private:
  struct Decision {
    std::string name;
    std::string action;
    int error = 0;
  };
  void answer(int fd);
  void audit(pid_t pid, const Decision& d, int nr, const uint64_t (&args)[6]);

  std::map<int, Decision> by_nr_;
  std::string audit_path_;
  UniqueFd audit_;
  uint64_t audit_bytes_ = 0;
  UniqueFd listen_;
  std::map<int, UniqueFd> listeners_;
  uint64_t decided_ = 0;
};

}  // namespace cryo::sentry
