#include "service/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/file.h"

namespace cryo::service {
namespace {

using json = nlohmann::json;

// Turns an error reply into ApiError, keeping cryod's message.
[[noreturn]] void throw_api_error(int status, const std::string& body, const std::string& what) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    auto& e = j["error"];
    throw ApiError(status, e.value("code", "internal"), e.value("message", what + ": HTTP " + std::to_string(status)));
  }
  throw ApiError(status, "internal", what + ": HTTP " + std::to_string(status));
}

}  // namespace

Client::Client(std::string socket_path)
    : socket_path_(std::move(socket_path)), http_(std::make_unique<UnixHttpClient>(socket_path_)) {
  // Commands and snapshots can take long; cryod enforces its own timeouts.
  http_->set_read_timeout(24 * 3600, 0);
  http_->set_write_timeout(300, 0);
  http_->set_keep_alive(true);
}

json Client::check(const httplib::Result& r, const std::string& what) {
  if (!r) throw cryo::Error("cryod at `" + socket_path_ + "`: " + what + ": " + httplib::to_string(r.error()));
  if (r->status >= 400) throw_api_error(r->status, r->body, what);
  if (r->body.empty()) return json::object();
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) throw cryo::Error(what + ": cryod sent a reply that is not JSON");
  return j;
}

json Client::get(const std::string& path) { return check(http_->Get(path.c_str()), "GET " + path); }

json Client::post(const std::string& path, const json& body) {
  return check(http_->Post(path.c_str(), body.dump(), "application/json"), "POST " + path);
}

json Client::del(const std::string& path) { return check(http_->Delete(path.c_str()), "DELETE " + path); }

json Client::put_bytes(const std::string& path, const std::string& data) {
  return check(http_->Put(path.c_str(), data, "application/octet-stream"), "PUT " + path);
}

std::string Client::get_bytes(const std::string& path) {
  auto r = http_->Get(path.c_str());
  if (!r) throw cryo::Error("cryod at `" + socket_path_ + "`: GET " + path + ": " + httplib::to_string(r.error()));
  if (r->status >= 400) throw_api_error(r->status, r->body, "GET " + path);
  return r->body;
}

void Client::stream_lines(const std::string& path, const std::function<void(const json&)>& on_line) {
  std::string pending, error_body;
  int status = 0;
  auto r = http_->Get(
      path.c_str(), httplib::Headers{},
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status >= 400) {
          error_body.append(data, len);
          return true;
        }
        pending.append(data, len);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          auto j = json::parse(pending.substr(0, nl), nullptr, false);
          pending.erase(0, nl + 1);
          // heartbeats only keep the connection honest; callers never see them
          if (!j.is_discarded() && !(j.is_object() && j.value("stream", "") == "heartbeat")) on_line(j);
        }
        return true;
      });
  if (!r) throw cryo::Error("cryod at `" + socket_path_ + "`: GET " + path + ": " + httplib::to_string(r.error()));
  if (status >= 400) throw_api_error(status, error_body, "GET " + path);
}

void Client::download(const std::string& path, const std::string& file, const std::function<void(int64_t)>& on_bytes) {
  std::string tmp = file + ".part";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) throw_errno("create `" + tmp + "`");
  std::string error_body, write_error;
  int status = 0;
  int64_t total = 0;
  auto r = http_->Get(
      path.c_str(), httplib::Headers{},
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status >= 400) {
          error_body.append(data, len);
          return true;
        }
        try {
          write_all(out.get(), data, len, "write `" + tmp + "`");
        } catch (const std::exception& e) {
          write_error = e.what();
          return false;
        }
        total += static_cast<int64_t>(len);
        if (on_bytes) on_bytes(total);
        return true;
      });
  auto fail = [&] { ::unlink(tmp.c_str()); };
  if (!write_error.empty()) {
    fail();
    throw cryo::Error(write_error);
  }
  if (!r) {
    fail();
    throw cryo::Error("cryod at `" + socket_path_ + "`: GET " + path + ": " + httplib::to_string(r.error()));
  }
  if (status >= 400) {
    fail();
    throw_api_error(status, error_body, "GET " + path);
  }
  if (::fsync(out.get()) != 0 || ::rename(tmp.c_str(), file.c_str()) != 0) {
    int err = errno;
    fail();
    throw SysError(err, "save `" + file + "`");
  }
}

json Client::upload(const std::string& path, const std::string& file, const std::function<void(int64_t)>& on_bytes) {
  auto in = std::make_shared<UniqueFd>(open_or_throw(file, O_RDONLY));
  struct stat st;
  if (::fstat(in->get(), &st) != 0) throw_errno("stat `" + file + "`");
  if (!S_ISREG(st.st_mode)) throw cryo::Error("`" + file + "` is not a regular file");
  auto r = http_->Post(
      path.c_str(), static_cast<size_t>(st.st_size),
      [in, on_bytes](size_t offset, size_t length, httplib::DataSink& sink) {
        std::string buf(std::min<size_t>(length, 1 << 20), '\0');
        ssize_t n = ::pread(in->get(), buf.data(), buf.size(), static_cast<off_t>(offset));
        if (n <= 0) return false;
        if (!sink.write(buf.data(), static_cast<size_t>(n))) return false;
        if (on_bytes) on_bytes(static_cast<int64_t>(offset) + n);
        return true;
      },
      "application/x-tar");
  return check(r, "POST " + path);
}

std::string Client::encode(const std::string& value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace cryo::service
