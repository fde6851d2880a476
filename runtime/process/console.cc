#include "runtime/process/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/fd_passing.h"

namespace cryo::runtime {

UniqueFd connect_console_socket(const std::string& path) {
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno("socket");
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Error("--console-socket `" + path + "`: path too long");
  std::strcpy(addr.sun_path, path.c_str());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw_errno("connect to console socket `" + path + "`");
  return sock;
}

void send_fds(int socket, const std::string& payload, const std::vector<int>& fds) {
  // A message must carry at least one byte for its fds to go along.
  std::string data = payload.empty() ? std::string(1, '\0') : payload;
  if (int err = send_with_fds(socket, data, fds)) throw SysError(err, "send file descriptors");
}

UniqueFd receive_fd(int socket, std::string* payload) {
  std::string buf(4096, '\0');
  ReceivedMessage m = recv_with_fds(socket, buf, 1);
  if (m.size < 0) throw_errno("receive file descriptor");
  if (payload) *payload = buf;
  return m.fds.empty() ? UniqueFd() : std::move(m.fds[0]);
}

void setup_console(int socket, unsigned rows, unsigned cols) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) throw_errno("open /dev/ptmx");
  if (::unlockpt(master.get()) != 0) throw_errno("unlockpt");
  char name[64];
  if (::ptsname_r(master.get(), name, sizeof name) != 0) throw_errno("ptsname");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) throw_errno(std::string("open `") + name + "`");
  if (rows && cols) {
    struct winsize ws = {static_cast<unsigned short>(rows), static_cast<unsigned short>(cols), 0, 0};
    ::ioctl(slave.get(), TIOCSWINSZ, &ws);
  }
  send_fds(socket, name, {master.get()});
  if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0) throw_errno("make the console the controlling terminal");
  for (int fd = 0; fd < 3; ++fd)
    if (::dup2(slave.get(), fd) < 0) throw_errno("dup2 console");
}

}  // namespace cryo::runtime
