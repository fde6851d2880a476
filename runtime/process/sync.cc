#include "runtime/process/sync.h"

#include <sys/socket.h>

#include <cstring>

#include "base/error.h"
#include "base/fd_passing.h"
#include "runtime/process/console.h"

namespace cryo::runtime {

std::pair<SyncChannel, SyncChannel> SyncChannel::make_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair");
  return {SyncChannel(UniqueFd(fds[0])), SyncChannel(UniqueFd(fds[1]))};
}

void SyncChannel::send(const std::string& type, const std::string& payload, int fd) {
  std::string msg = type + '\n' + payload;
  if (fd >= 0) {
    send_fds(fd_.get(), msg, {fd});
    return;
  }
  if (::send(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL) < 0) throw_errno("send `" + type + "`");
}

SyncMessage SyncChannel::receive(const std::string& peer) {
  auto m = try_receive(peer);
  if (!m) throw Error(peer + " exited before it was ready");
  return std::move(*m);
}

std::optional<SyncMessage> SyncChannel::try_receive(const std::string& peer) {
  // Size the next message first: payloads (a state JSON, an error) can be long.
  ssize_t size;
  do {
    size = ::recv(fd_.get(), nullptr, 0, MSG_PEEK | MSG_TRUNC);
  } while (size < 0 && errno == EINTR);
  if (size < 0) throw_errno("receive from " + peer);
  if (size == 0) return std::nullopt;
  std::string buf(static_cast<size_t>(size), '\0');
  ReceivedMessage m = recv_with_fds(fd_.get(), buf, 1);
  if (m.size < 0) throw_errno("receive from " + peer);
  SyncMessage out;
  if (!m.fds.empty()) out.fd = std::move(m.fds[0]);
  auto nl = buf.find('\n');
  out.type = buf.substr(0, nl);
  out.payload = nl == std::string::npos ? "" : buf.substr(nl + 1);
  return out;
}

SyncMessage SyncChannel::expect(const std::string& type, const std::string& peer) {
  SyncMessage m = receive(peer);
  if (m.type == "error") throw Error(m.payload);
  if (m.type != type) throw Error(peer + " sent `" + m.type + "` where `" + type + "` was expected");
  return m;
}

}  // namespace cryo::runtime
