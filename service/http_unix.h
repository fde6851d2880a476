// cpp-httplib 0.11 (Debian 12) has no AF_UNIX support: set_address_family(AF_UNIX) still resolves
// the host with getaddrinfo and cannot bind a path. Both of its classes expose a hook, though:
// the server's listening socket (svr_sock_, protected) and the client's connect
// (create_and_connect_socket, virtual). These two subclasses use them; everything else (parsing,
// keep-alive, chunked transfer, thread pool) stays the library's.
#pragma once

#include <httplib.h>

#include <string>

namespace cryo::service {

class UnixHttpServer : public httplib::Server {
 public:
  // Binds a listening unix socket at path with mode 0600, replacing a stale socket file but
  // refusing one another process still listens on. Then call listen_after_bind().
  void bind_unix(const std::string& path);
};

class UnixHttpClient : public httplib::ClientImpl {
 public:
  explicit UnixHttpClient(std::string socket_path);

 protected:
  bool create_and_connect_socket(Socket& socket, httplib::Error& error) override;

 private:
  std::string socket_path_;
};

// Connects a stream socket to path; -1 with errno set on failure.
int connect_unix(const std::string& path);

}  // namespace cryo::service
