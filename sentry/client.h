// The engine's side of the sentry protocol (see protocol.h): connect, send one request, read
// JSON lines back.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd.h"
#include "sentry/protocol.h"

namespace cryo::sentry {

// An {"error":..,"kind":..} reply; kind is bad_request, not_found, conflict or internal.
class SentryError : public Error {
 public:
  SentryError(std::string kind, const std::string& what) : Error(what), kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
};

// The sentry is not there (no socket, connection refused): the sandbox is gone or going.
class SentryUnreachable : public Error {
 public:
  using Error::Error;
};

class SentryConnection {
 public:
  // Throws SentryUnreachable when nobody listens on `socket_path`.
  explicit SentryConnection(const std::string& socket_path);
  void send(const nlohmann::json& request);
  // The next line; nullopt at EOF. timeout < 0 waits forever; throws Timeout-like Error when
  // it passes. An error reply is thrown as SentryError.
  std::optional<nlohmann::json> next(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
  // Makes a blocked next() on another thread return (EOF) and stops further traffic.
  void shutdown();

 private:
  UniqueFd fd_;
  LineBuffer in_;
  std::string path_;
};

// One request, one reply. Throws SentryError / SentryUnreachable / Error (timeout, EOF).
nlohmann::json sentry_call(const std::string& socket_path, const nlohmann::json& request,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000));

}  // namespace cryo::sentry
