// cryod's HTTP front: a unix socket (and optionally loopback TCP with a bearer token) serving the
// /v1 API over a SandboxService.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "service/engine.h"
#include "service/http_unix.h"
#include "service/metrics.h"
#include "service/sandbox_service.h"

namespace cryo::service {

struct ServerOptions {
  std::string socket_path = "/run/cryod/cryod.sock";  // empty: no unix socket
  std::string state_dir = "/var/lib/cryod";
  std::string tcp_host;  // empty: no TCP listener; otherwise must be a loopback address
  int tcp_port = 0;      // 0: any free port (see Server::tcp_port)
  std::string token;     // required with TCP
  size_t max_json_body = 8 << 20;
  size_t max_file_body = size_t{1} << 30;
  int threads = 64;  // streams and long commands each hold a thread
};

class Server {
 public:
  Server(ServerOptions options, std::unique_ptr<SandboxEngine> engine);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Binds the listeners and serves on background threads; returns once they accept connections.
  void start();
  // Stops accepting, ends output streams, joins the threads. Idempotent.
  void stop();
  int tcp_port() const { return tcp_port_; }
  SandboxService& service() { return service_; }

 private:
  void configure(httplib::Server& http, bool require_token);
  void serve(httplib::Server& http, std::thread& thread);

  ServerOptions options_;
  Metrics metrics_;
  SandboxService service_;
  std::atomic<bool> stopping_{false};
  UnixHttpServer unix_http_;
  httplib::Server tcp_http_;
  std::thread unix_thread_, tcp_thread_;
  int tcp_port_ = 0;
  bool started_ = false;
};

// Installs the /v1 routes on http (routes.cc).
void install_routes(httplib::Server& http, SandboxService& service, Metrics& metrics, const ServerOptions& options,
                    const std::atomic<bool>& stopping);

}  // namespace cryo::service
