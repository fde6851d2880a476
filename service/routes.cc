// The /v1 HTTP routes: decode the request, call the service, encode the reply. Errors thrown by the
// service or engine become {"error":{"code","message"}} with the matching status.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "base/error.h"
#include "base/fd.h"
#include "base/file.h"

#include "service/json_codec.h"
#include "service/server.h"

namespace cryo::service {
namespace {

using httplib::Request;
using httplib::Response;

constexpr const char* kJson = "application/json";
constexpr size_t kFileChunk = 64 * 1024;
constexpr auto kHeartbeat = std::chrono::seconds(15);

void reply(Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(to_wire(body), kJson);
}

void reply_error(Response& res, int status, const std::string& code, const std::string& message) {
  reply(res, error_body(code, message), status);
}

// Runs a handler, turning exceptions into the API's error shape.
template <typename F>
void guarded(Response& res, F&& f) {
  try {
    f();
  } catch (const NotFound& e) {
    reply_error(res, 404, "not_found", e.what());
  } catch (const BadRequest& e) {
    reply_error(res, 400, "bad_request", e.what());
  } catch (const Conflict& e) {
    reply_error(res, 409, "conflict", e.what());
  } catch (const Timeout& e) {
    reply_error(res, 504, "timeout", e.what());
  } catch (const std::exception& e) {
    reply_error(res, 500, "internal", e.what());
  }
}

class Api {
 public:
  Api(SandboxService& s, Metrics& m, const ServerOptions& o, const std::atomic<bool>& stopping)
      : svc_(s), metrics_(m), opts_(o), stopping_(stopping) {}

  static void install(const std::shared_ptr<Api>& api, httplib::Server& http);

 private:
  json body(const Request& req) const {
    if (req.body.size() > opts_.max_json_body)
      throw TooLarge("request body of " + std::to_string(req.body.size()) + " bytes exceeds the limit of " +
                     std::to_string(opts_.max_json_body));
    return parse_body(req.body);
  }

  static std::string query(const Request& req, const char* name, bool required = true) {
    if (!req.has_param(name)) {
      if (required) throw BadRequest(std::string("query `") + name + "`: required");
      return {};
    }
    return req.get_param_value(name);
  }

  static bool query_bool(const Request& req, const char* name) {
    std::string v = query(req, name, false);
    if (v.empty() || v == "false" || v == "0") return false;
    if (v == "true" || v == "1") return true;
    throw BadRequest(std::string("query `") + name + "`: expected true or false, got `" + v + "`");
  }

  static uint32_t query_mode(const Request& req) {
    std::string v = query(req, "mode", false);
    if (v.empty()) return 0644;
    size_t used = 0;
    unsigned long mode = 0;
    try {
      mode = std::stoul(v, &used, 8);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || mode > 07777) throw BadRequest("query `mode`: expected octal permissions, got `" + v + "`");
    return static_cast<uint32_t>(mode);
  }

  static int query_limit(const Request& req) {
    std::string v = query(req, "limit", false);
    if (v.empty()) return 20;
    size_t used = 0;
    int limit = 0;
    try {
      limit = std::stoi(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || limit < 1 || limit > 1000)
      throw BadRequest("query `limit`: expected an integer from 1 to 1000, got `" + v + "`");
    return limit;
  }

  // sandboxes
  void create_sandbox(const Request& req, Response& res) {
    reply(res, encode_sandbox(svc_.create_sandbox(decode_create_sandbox(body(req)))), 201);
  }
  void list_sandboxes(const Request& req, Response& res) {
    json items = json::array();
    for (auto& r : svc_.list_sandboxes(query_bool(req, "all"))) items.push_back(encode_sandbox(r));
    reply(res, {{"sandboxes", items}});
  }
  void get_sandbox(const Request& req, Response& res) { reply(res, encode_sandbox(svc_.get_sandbox(req.matches[1]))); }
  void kill_sandbox(const Request& req, Response& res) { reply(res, encode_sandbox(svc_.kill_sandbox(req.matches[1]))); }

  // commands
  void run_command(const Request& req, Response& res) {
    auto run = decode_run(body(req));
    if (run.background) {
      reply(res, {{"command_id", svc_.start_command(req.matches[1], run.spec)}}, 201);
    } else {
      reply(res, encode_result(svc_.run_command(req.matches[1], run.spec)));
    }
  }
  void list_commands(const Request& req, Response& res) {
    json items = json::array();
    for (auto& c : svc_.list_commands(req.matches[1])) items.push_back(encode_command(c));
    reply(res, {{"commands", items}});
  }
  void audit_log(const Request& req, Response& res) { reply(res, {{"events", svc_.audit_log(req.matches[1])}}); }
  void command_stdin(const Request& req, Response& res) {
    auto in = decode_stdin(body(req));
    svc_.write_stdin(req.matches[1], req.matches[2], in.data, in.close);
    reply(res, json::object());
  }
  void command_kill(const Request& req, Response& res) {
    int sig = decode_signal(body(req));
    svc_.kill_command(req.matches[1], req.matches[2], sig);
    reply(res, json::object());
  }
  void command_output(const Request& req, Response& res);

  // files
  void read_file(const Request& req, Response& res) {
    auto data = std::make_shared<std::string>(svc_.read_file(req.matches[1], query(req, "path")));
    // Sent in chunks so a large file does not need a second full copy in the response buffer.
    res.set_content_provider(data->size(), "application/octet-stream",
                             [data](size_t offset, size_t length, httplib::DataSink& sink) {
                               return sink.write(data->data() + offset, std::min(length, kFileChunk));
                             });
  }
  void write_file(const Request& req, Response& res) {
    svc_.write_file(req.matches[1], query(req, "path"), req.body, query_mode(req));
    reply(res, json::object());
  }
  void list_dir(const Request& req, Response& res) {
    json items = json::array();
    for (auto& e : svc_.list_dir(req.matches[1], query(req, "path"))) items.push_back(encode_entry(e));
    reply(res, {{"entries", items}});
  }
  void stat(const Request& req, Response& res) {
    reply(res, encode_entry(svc_.stat(req.matches[1], query(req, "path"))));
  }
  void remove(const Request& req, Response& res) {
    svc_.remove(req.matches[1], query(req, "path"), query_bool(req, "recursive"));
    reply(res, json::object());
  }
  void make_dir(const Request& req, Response& res) {
    svc_.make_dir(req.matches[1], query(req, "path"));
    reply(res, json::object());
  }

  // snapshots
  void create_snapshot(const Request& req, Response& res) {
    reply(res, encode_snapshot(svc_.create_snapshot(req.matches[1])), 201);
  }
  void list_snapshots(const Request& req, Response& res) {
    auto page = svc_.list_snapshots(query_limit(req), query(req, "cursor", false));
    json items = json::array();
    for (auto& s : page.items) items.push_back(encode_snapshot(s));
    reply(res, {{"snapshots", items}, {"next_cursor", page.next_cursor.empty() ? json() : json(page.next_cursor)}});
  }
  void get_snapshot(const Request& req, Response& res) {
    reply(res, encode_snapshot(svc_.get_snapshot(req.matches[1])));
  }
  void delete_snapshot(const Request& req, Response& res) {
    svc_.delete_snapshot(req.matches[1]);
    reply(res, json::object());
  }

  // Streams the archive from a temp file that is already unlinked: nothing is left behind
  // whether the reader takes it all or goes away.
  void export_snapshot(const Request& req, Response& res) {
    std::string id = req.matches[1];
    std::string path = svc_.temp_path("export");
    svc_.export_snapshot(id, path);
    auto fd = std::make_shared<UniqueFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ::unlink(path.c_str());
    if (!*fd) throw_errno("open `" + path + "`");
    off_t size = ::lseek(fd->get(), 0, SEEK_END);
    if (size < 0) throw_errno("size of `" + path + "`");
    res.set_header("Content-Disposition", "attachment; filename=\"" + id + ".tar\"");
    res.set_content_provider(static_cast<size_t>(size), "application/x-tar",
                             [fd](size_t offset, size_t length, httplib::DataSink& sink) {
                               std::string buf(std::min(length, kFileChunk * 16), '\0');
                               ssize_t n = ::pread(fd->get(), buf.data(), buf.size(), static_cast<off_t>(offset));
                               if (n <= 0) return false;
                               return sink.write(buf.data(), static_cast<size_t>(n));
                             });
  }

  // The body is the archive; it is spooled to a temp file rather than held in memory.
  void import_snapshot(const Request&, Response& res, const httplib::ContentReader& content) {
    std::string path = svc_.temp_path("import");
    UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_errno("create `" + path + "`");
    struct Unlink {
      std::string p;
      ~Unlink() { ::unlink(p.c_str()); }
    } cleanup{path};
    std::string write_error;
    bool ok = content([&](const char* data, size_t len) {
      try {
        write_all(out.get(), data, len, "spool upload");
        return true;
      } catch (const std::exception& e) {
        write_error = e.what();
        return false;
      }
    });
    if (!write_error.empty()) throw cryo::Error(write_error);
    if (!ok) throw BadRequest("snapshot archive upload was cut short");
    out.reset();
    reply(res, encode_snapshot(svc_.import_snapshot(path)), 201);
  }

  // images
  void import_image(const Request& req, Response& res) {
    auto r = decode_import_image(body(req));
    reply(res, encode_image(svc_.import_image(r.path, r.name)), 201);
  }
  void list_images(const Request&, Response& res) {
    json items = json::array();
    for (auto& i : svc_.list_images()) items.push_back(encode_image(i));
    reply(res, {{"images", items}});
  }
  void get_image(const Request& req, Response& res) { reply(res, encode_image(svc_.get_image(req.matches[1]))); }
  void delete_image(const Request& req, Response& res) {
    svc_.delete_image(req.matches[1]);
    reply(res, json::object());
  }

  void health(const Request&, Response& res) { reply(res, {{"status", "ok"}, {"version", "0.1.0"}}); }
  void metrics(const Request&, Response& res) {
    res.set_content(metrics_.render(svc_.running_count(), svc_.snapshot_count()), "text/plain; version=0.0.4");
  }

  // Body over the JSON limit; the file upload limit is enforced by httplib itself.
  struct TooLarge : cryo::Error {
    using cryo::Error::Error;
  };

  SandboxService& svc_;
  Metrics& metrics_;
  const ServerOptions& opts_;
  const std::atomic<bool>& stopping_;
};

// Streams a background command's output as NDJSON, from the first byte, until it exits.
// During silence a {"stream":"heartbeat"} line goes out every kHeartbeat: it is the only way to
// notice a reader that went away, which would otherwise hold a server thread until the command ends.
void Api::command_output(const Request& req, Response& res) {
  auto out = svc_.command_output(req.matches[1], req.matches[2]);
  struct Cursor {
    size_t next = 0;
    std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  };
  auto cur = std::make_shared<Cursor>();
  const std::atomic<bool>* stopping = &stopping_;
  res.set_chunked_content_provider("application/x-ndjson", [out, cur, stopping](size_t, httplib::DataSink& sink) {
    if (stopping->load()) return false;  // server shutdown: cut the stream
    auto events = out->read(cur->next, std::chrono::milliseconds(500));
    cur->next += events.size();
    auto send = [&](const json& line) {
      std::string text = to_wire(line) + "\n";
      cur->last_write = std::chrono::steady_clock::now();
      return sink.write(text.data(), text.size());
    };
    if (events.empty() && std::chrono::steady_clock::now() - cur->last_write > kHeartbeat)
      return send({{"stream", "heartbeat"}});
    for (auto& e : events) {
      if (e.kind == OutputEvent::kExit) {
        if (!send({{"stream", "exit"}, {"exit_code", e.exit_code}})) return false;
        sink.done();
        break;
      }
      if (!send({{"stream", e.kind == OutputEvent::kStdout ? "stdout" : "stderr"}, {"data", e.data}})) return false;
    }
    return true;
  });
}

void Api::install(const std::shared_ptr<Api>& api, httplib::Server& http) {
  using Method = void (Api::*)(const Request&, Response&);
  // Each handler shares ownership of the Api, which therefore lives as long as the routes.
  auto bind = [api](Method m) {
    return [api, m](const Request& req, Response& res) {
      guarded(res, [&] {
        try {
          ((*api).*m)(req, res);
        } catch (const TooLarge& e) {
          reply_error(res, 413, "too_large", e.what());
        }
      });
    };
  };
  const std::string sbx = "/v1/sandboxes/([^/]+)";
  const std::string cmd = sbx + "/commands/([^/]+)";
  http.Get("/v1/health", bind(&Api::health));
  http.Get("/metrics", bind(&Api::metrics));
  http.Post("/v1/sandboxes", bind(&Api::create_sandbox));
  http.Get("/v1/sandboxes", bind(&Api::list_sandboxes));
  http.Get(sbx, bind(&Api::get_sandbox));
  http.Delete(sbx, bind(&Api::kill_sandbox));
  http.Post(sbx + "/commands", bind(&Api::run_command));
  http.Get(sbx + "/commands", bind(&Api::list_commands));
  http.Get(sbx + "/audit", bind(&Api::audit_log));
  http.Post(cmd + "/stdin", bind(&Api::command_stdin));
  http.Post(cmd + "/kill", bind(&Api::command_kill));
  http.Get(cmd + "/output", bind(&Api::command_output));
  http.Get(sbx + "/files", bind(&Api::read_file));
  http.Put(sbx + "/files", bind(&Api::write_file));
  http.Delete(sbx + "/files", bind(&Api::remove));
  http.Get(sbx + "/files/list", bind(&Api::list_dir));
  http.Get(sbx + "/files/stat", bind(&Api::stat));
  http.Post(sbx + "/files/mkdir", bind(&Api::make_dir));
  http.Post(sbx + "/snapshots", bind(&Api::create_snapshot));
  http.Get("/v1/snapshots", bind(&Api::list_snapshots));
  http.Get("/v1/snapshots/([^/]+)", bind(&Api::get_snapshot));
  http.Delete("/v1/snapshots/([^/]+)", bind(&Api::delete_snapshot));
  http.Get("/v1/snapshots/([^/]+)/export", bind(&Api::export_snapshot));
  http.Post("/v1/snapshots/import", [api](const Request& req, Response& res, const httplib::ContentReader& content) {
    guarded(res, [&] { api->import_snapshot(req, res, content); });
  });
  http.Post("/v1/images", bind(&Api::import_image));
  http.Get("/v1/images", bind(&Api::list_images));
  // Names may hold `/` and `:` (library/busybox:1.36).
  http.Get("/v1/images/(.+)", bind(&Api::get_image));
  http.Delete("/v1/images/(.+)", bind(&Api::delete_image));
}

}  // namespace

void install_routes(httplib::Server& http, SandboxService& service, Metrics& metrics, const ServerOptions& options,
                    const std::atomic<bool>& stopping) {
  Api::install(std::make_shared<Api>(service, metrics, options, stopping), http);
}

}  // namespace cryo::service
