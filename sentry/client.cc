#include "sentry/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"

namespace cryo::sentry {

SentryConnection::SentryConnection(const std::string& socket_path) : path_(socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) throw Error("socket path `" + socket_path + "` is too long");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw_errno("socket");
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      throw SentryUnreachable("sentry at `" + socket_path + "` is not running (" + errno_name(err) + ")");
    throw SysError(err, "connect to the sentry at `" + socket_path + "`");
  }
}

void SentryConnection::send(const nlohmann::json& request) {
  std::string line = request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("send a request to the sentry at `" + path_ + "`");
    off += static_cast<size_t>(n);
  }
}

std::optional<nlohmann::json> SentryConnection::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (!in_.next_line(line)) {
    int wait = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw Error("sentry at `" + path_ + "` did not answer in time");
      wait = static_cast<int>(left.count());
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno("wait for the sentry at `" + path_ + "`");
    if (r == 0) continue;
    char buf[64 * 1024];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // EOF (or reset: the sentry died)
    in_.append(std::string_view(buf, static_cast<size_t>(n)));
  }
  nlohmann::json msg;
  try {
    msg = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw Error("sentry at `" + path_ + "` sent a malformed line: " + e.what());
  }
  if (msg.contains("error"))
    throw SentryError(msg.value("kind", "internal"), msg["error"].get<std::string>());
  return msg;
}

void SentryConnection::shutdown() { ::shutdown(fd_.get(), SHUT_RDWR); }

nlohmann::json sentry_call(const std::string& socket_path, const nlohmann::json& request,
                           std::chrono::milliseconds timeout) {
  SentryConnection c(socket_path);
  c.send(request);
  auto reply = c.next(timeout);
  if (!reply) throw Error("sentry at `" + socket_path + "` closed the connection without answering");
  return *reply;
}

}  // namespace cryo::sentry
