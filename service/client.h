// A small client for cryod's API over its unix socket (used by cryoctl and the tests).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "service/http_unix.h"

namespace cryo::service {

// An error reply from cryod: HTTP status plus the API's error code and message.
class ApiError : public cryo::Error {
 public:
  ApiError(int status, std::string code, const std::string& message)
      : cryo::Error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

class Client {
 public:
  explicit Client(std::string socket_path);

  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const nlohmann::json& body = nlohmann::json::object());
  nlohmann::json del(const std::string& path);
  nlohmann::json put_bytes(const std::string& path, const std::string& data);
  std::string get_bytes(const std::string& path);
  // Streams a GET reply into `file` (created, replaced on success only); on_bytes gets the total so far.
  void download(const std::string& path, const std::string& file, const std::function<void(int64_t)>& on_bytes = {});
  // POSTs the bytes of `file` as the body, streamed; returns the JSON reply.
  nlohmann::json upload(const std::string& path, const std::string& file,
                        const std::function<void(int64_t)>& on_bytes = {});
  // Calls on_line for each NDJSON line until the server ends the stream.
  void stream_lines(const std::string& path, const std::function<void(const nlohmann::json&)>& on_line);

  // Percent-encodes a query value.
  static std::string encode(const std::string& value);

 private:
  nlohmann::json check(const httplib::Result& r, const std::string& what);

  std::string socket_path_;
  std::unique_ptr<UnixHttpClient> http_;
};

}  // namespace cryo::service
