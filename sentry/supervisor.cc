#include "sentry/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "runtime/process/console.h"
#include "runtime/state_store.h"

namespace cryo::sentry {
namespace {

constexpr uint64_t kMaxAuditBytes = 16ull << 20;  // the log of a busy sandbox stops growing here
constexpr int kMaxErrno = 4095;

int syscall_number(const std::string& name) {
  int nr = seccomp_syscall_resolve_name(name.c_str());
  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

}  // namespace

std::vector<SupervisionRule> supervision_rules_from_json(const nlohmann::json& j) {
  std::vector<SupervisionRule> rules;
  if (j.is_null()) return rules;
  if (!j.is_array()) throw Error("supervise: must be a list of rules");
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& r = j[i];
    std::string where = "supervise[" + std::to_string(i) + "]";
    if (!r.is_object()) throw Error(where + ": must be an object");
    SupervisionRule rule;
    rule.syscall = r.value("syscall", "");
    rule.action = r.value("action", "log");
    if (r.contains("errno")) {
      if (!r["errno"].is_number_integer()) throw Error(where + ".errno: must be an integer");
      rule.error = r["errno"].get<int>();
    }
    if (syscall_number(rule.syscall) < 0) throw Error(where + ".syscall: unknown system call `" + rule.syscall + "`");
    // The listener travels to the sentry by sendmsg after the filter is loaded.
    if (rule.syscall == "sendmsg") throw Error(where + ".syscall: sendmsg cannot be supervised (it carries the listener)");
    if (rule.action != "allow" && rule.action != "log" && rule.action != "deny")
      throw Error(where + ".action: must be allow, log or deny, got `" + rule.action + "`");
    if (rule.error < 1 || rule.error > kMaxErrno) throw Error(where + ".errno: must be 1.." + std::to_string(kMaxErrno));
    for (auto& seen : rules)
      if (seen.syscall == rule.syscall) throw Error(where + ".syscall: `" + rule.syscall + "` has a rule already");
    rules.push_back(rule);
  }
  return rules;
}


Supervisor::Supervisor(const std::vector<SupervisionRule>& rules, std::string audit_path)
    : audit_path_(std::move(audit_path)) {
  for (auto& r : rules) {
    int nr = syscall_number(r.syscall);
    if (nr >= 0) by_nr_[nr] = {r.syscall, r.action, r.action == "deny" ? r.error : 0};
  }
}

void Supervisor::listen(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) throw Error("supervisor socket path too long: " + socket_path);
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s) throw_errno("socket for the supervisor");
  ::unlink(socket_path.c_str());
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind `" + socket_path + "`");
  ::chmod(socket_path.c_str(), 0600);
  if (::listen(s.get(), 16) != 0) throw_errno("listen on `" + socket_path + "`");
  listen_ = std::move(s);
}

void Supervisor::accept_handovers() {
  for (;;) {
    UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;  // EAGAIN: none left
    // The runtime sends right after connecting; never let a silent peer hold the sentry.
    timeval tv{1, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    try {
      std::string state;
      UniqueFd listener = runtime::receive_fd(conn.get(), &state);
      if (listener) add_listener(std::move(listener));
    } catch (const std::exception&) {
      // A peer that sent no listener: nothing to supervise from it.
    }
  }
}

void Supervisor::add_listener(UniqueFd listener) {
  int fd = listener.get();
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  listeners_[fd] = std::move(listener);
}

std::vector<int> Supervisor::listener_fds() const {
  std::vector<int> out;
  for (auto& [fd, l] : listeners_) out.push_back(fd);
  return out;
}

void Supervisor::on_listener(int fd, short revents) {
  if (revents & POLLIN) answer(fd);
  // POLLHUP: every process using this filter is gone.
  if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLIN)) listeners_.erase(fd);
}

void Supervisor::answer(int fd) {
  seccomp_notif req;
  std::memset(&req, 0, sizeof req);  // the kernel insists on a zeroed request
  if (::ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
    // ENOENT: the caller died before we read it. Anything else: the listener is unusable.
    if (errno != ENOENT && errno != EINTR) listeners_.erase(fd);
    return;
  }
  auto it = by_nr_.find(req.data.nr);
  Decision d = it != by_nr_.end() ? it->second : Decision{"nr " + std::to_string(req.data.nr), "log", 0};
  seccomp_notif_resp resp;
  std::memset(&resp, 0, sizeof resp);
  resp.id = req.id;
  if (d.action == "deny") {
    resp.error = -d.error;
  } else {
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  }
  // ENOENT: the caller was killed meanwhile; nothing to answer.
  ::ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  ++decided_;
  uint64_t args[6];
  for (int i = 0; i < 6; ++i) args[i] = req.data.args[i];
  if (d.action != "allow") audit(static_cast<pid_t>(req.pid), d, req.data.nr, args);
}

void Supervisor::audit(pid_t pid, const Decision& d, int nr, const uint64_t (&args)[6]) {
  if (audit_bytes_ >= kMaxAuditBytes) return;
  if (!audit_) {
    audit_.reset(::open(audit_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!audit_) return;
    struct stat st;
    if (::fstat(audit_.get(), &st) == 0) audit_bytes_ = static_cast<uint64_t>(st.st_size);
  }
  nlohmann::json line = {{"time", runtime::rfc3339_now()}, {"pid", pid},       {"syscall", d.name},
                         {"nr", nr},              {"action", d.action}, {"args", args}};
  if (d.action == "deny") line["errno"] = d.error;
  std::string text = line.dump() + "\n";
  bool full = audit_bytes_ + text.size() > kMaxAuditBytes;
  if (full) text = "{\"truncated\":true}\n";  // the last line: later calls are not recorded
  ssize_t n = ::write(audit_.get(), text.data(), text.size());
  audit_bytes_ = full ? kMaxAuditBytes : audit_bytes_ + static_cast<uint64_t>(n > 0 ? n : 0);
}

}  // namespace cryo::sentry
