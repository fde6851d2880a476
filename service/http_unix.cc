#include "service/http_unix.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"

namespace cryo::service {
namespace {

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    throw cryo::Error("unix socket path `" + path + "`: empty or longer than " +
                      std::to_string(sizeof addr.sun_path - 1) + " bytes");
  path.copy(addr.sun_path, path.size());
  return addr;
}

// Removes a socket file left by a process that is gone; refuses to steal a live one.
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw cryo::Error("socket path `" + path + "` exists and is not a socket");
  UniqueFd probe(connect_unix(path));
  if (probe) throw cryo::Error("socket `" + path + "` is in use by another server");
  if (::unlink(path.c_str()) != 0) throw_errno("remove stale socket `" + path + "`");
}

}  // namespace

int connect_unix(const std::string& path) {
  sockaddr_un addr = unix_address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return -1;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd.release();
}

void UnixHttpServer::bind_unix(const std::string& path) {
  sockaddr_un addr = unix_address(path);
  remove_stale_socket(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("create unix socket for `" + path + "`");
  // The umask makes the socket 0600 from the moment it appears; chmod is a second guard.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::umask(old);
  if (rc != 0) throw SysError(err, "bind unix socket `" + path + "`");
  if (::chmod(path.c_str(), 0600) != 0) throw_errno("chmod 0600 `" + path + "`");
  if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno("listen on `" + path + "`");
  svr_sock_ = fd.release();
}

UnixHttpClient::UnixHttpClient(std::string socket_path)
    : httplib::ClientImpl("localhost"), socket_path_(std::move(socket_path)) {}

bool UnixHttpClient::create_and_connect_socket(Socket& socket, httplib::Error& error) {
  int fd = connect_unix(socket_path_);
  if (fd < 0) {
    error = httplib::Error::Connection;
    return false;
  }
  socket.sock = fd;
  return true;
}

}  // namespace cryo::service
