#include "service/server.h"

#include "service/log.h"

#include <chrono>
#include <filesystem>
#include <iostream>

#include "base/file.h"
#include "service/ids.h"
#include "service/json_codec.h"

namespace cryo::service {
namespace {

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "::1" || host == "localhost"; }

std::string error_code_for(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 404: return "not_found";
    case 409: return "conflict";
    case 413: return "too_large";
    case 504: return "timeout";
    default: return status >= 500 ? "internal" : "bad_request";
  }
}

}  // namespace

Server::Server(ServerOptions options, std::unique_ptr<SandboxEngine> engine)
    : options_(std::move(options)), service_(options_.state_dir, std::move(engine), metrics_) {
  if (!options_.tcp_host.empty()) {
    if (!is_loopback(options_.tcp_host))
      throw BadRequest("--tcp `" + options_.tcp_host + "`: only loopback addresses are allowed");
    if (options_.token.empty()) throw BadRequest("--tcp needs a token (--token-file)");
  }
  configure(unix_http_, false);
  configure(tcp_http_, true);
}

Server::~Server() { stop(); }

void Server::configure(httplib::Server& http, bool require_token) {
  int threads = options_.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(std::max(options_.max_json_body, options_.max_file_body));
  // Let the keep-alive loop notice shutdown quickly.
  http.set_keep_alive_timeout(2);
  // The SDK keeps its connection open between requests (a new one per request costs an accept
  // and a hand-off to the pool); httplib's default of 5 requests per connection would undo that.
  http.set_keep_alive_max_count(1000);
  if (require_token) {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const std::string prefix = "Bearer ";
      std::string auth = req.get_header_value("Authorization");
      if (auth.starts_with(prefix) && constant_time_equal(auth.substr(prefix.size()), options_.token))
        return httplib::Server::HandlerResponse::Unhandled;
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(to_wire(error_body("unauthorized", "missing or wrong bearer token")), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  // One log line per request: method, path, status.
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log_event(res.status >= 500 ? "error" : "info", "request",
              {{"method", req.method}, {"path", req.path}, {"status", res.status}});
  });
  // Statuses httplib produces itself (no route, body too large) get the same error shape.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.has_header("Content-Type")) return httplib::Server::HandlerResponse::Unhandled;
    std::string msg = res.status == 404   ? "no route for " + req.method + " " + req.path
                      : res.status == 413 ? "request body too large"
                                          : "request failed with HTTP " + std::to_string(res.status);
    res.set_content(to_wire(error_body(error_code_for(res.status), msg)), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(to_wire(error_body("internal", msg)), "application/json");
  });
  install_routes(http, service_, metrics_, options_, stopping_);
}

void Server::serve(httplib::Server& http, std::thread& thread) {
  thread = std::thread([&http] { http.listen_after_bind(); });
  // listen_after_bind sets is_running only once it loops; stop() before that would be lost.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!http.is_running()) {
    if (std::chrono::steady_clock::now() > deadline) throw cryo::Error("HTTP listener did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Server::start() {
  if (started_) return;
  started_ = true;
  if (!options_.socket_path.empty()) {
    make_dirs(std::filesystem::path(options_.socket_path).parent_path(), 0755);
    unix_http_.bind_unix(options_.socket_path);
    serve(unix_http_, unix_thread_);
  }
  if (!options_.tcp_host.empty()) {
    if (options_.tcp_port == 0) {
      tcp_port_ = tcp_http_.bind_to_any_port(options_.tcp_host);
      if (tcp_port_ < 0) throw cryo::Error("bind TCP " + options_.tcp_host + ": failed");
    } else {
      if (!tcp_http_.bind_to_port(options_.tcp_host, options_.tcp_port))
        throw cryo::Error("bind TCP " + options_.tcp_host + ":" + std::to_string(options_.tcp_port) + ": failed");
      tcp_port_ = options_.tcp_port;
    }
    serve(tcp_http_, tcp_thread_);
  }
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  if (unix_http_.is_running()) unix_http_.stop();
  if (tcp_http_.is_running()) tcp_http_.stop();
  if (unix_thread_.joinable()) unix_thread_.join();
  if (tcp_thread_.joinable()) tcp_thread_.join();
  if (started_ && !options_.socket_path.empty()) ::unlink(options_.socket_path.c_str());
}

}  // namespace cryo::service
