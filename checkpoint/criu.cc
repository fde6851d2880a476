#include "checkpoint/criu.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "checkpoint/criu_log.h"
#include "checkpoint/criu_process.h"
#include "checkpoint/criu_rpc.h"

namespace cryo::checkpoint {
namespace {

using Clock = std::chrono::steady_clock;

// How long criu may take to exit after its last answer before we kill it.
constexpr int kExitGraceMs = 10'000;

// Where a request's CRIU log lands, so failures can quote it.
struct LogLocation {
  int dirfd = -1;        // the work dir (or images dir) fd
  std::string dir_path;  // used when dirfd < 0
  std::string file;      // empty: criu logs to stderr (captured)
};

struct Call {
  std::string name;  // "dump", "restore", ...
  LogLocation log;
  std::vector<int> pass_fds;
  int netns_fd = -1;
};

LogLocation log_location(const CommonOptions& o, const criu::criu_opts& p) {
  LogLocation loc;
  loc.file = p.log_file();
  if (o.work_dir_fd >= 0) loc.dirfd = o.work_dir_fd;
  else if (o.images_dir_fd >= 0) loc.dirfd = o.images_dir_fd;
  else loc.dir_path = o.images_dir;
  return loc;
}

std::string log_path(const LogLocation& loc) {
  std::string dir = loc.dirfd >= 0 ? fd_path(loc.dirfd) : loc.dir_path;
  return dir.empty() ? loc.file : dir + "/" + loc.file;
}

// The quoted evidence appended to every failure: CRIU's log and whatever criu printed.
std::string evidence(const LogLocation& loc, const CriuProcess& proc) {
  std::string out;
  if (!loc.file.empty()) {
    std::string path = log_path(loc);
    std::optional<std::string> log =
        loc.dirfd >= 0 ? read_log(loc.dirfd, loc.file) : read_log(-1, path);
    if (!log) out += "\n(no criu log at " + path + ")";
    else if (std::string ex = log_excerpt(*log); !ex.empty())
      out += "\ncriu log " + path + ":\n" + ex;
  }
  if (std::string ex = log_excerpt(proc.captured_output()); !ex.empty())
    out += "\ncriu output:\n" + ex;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string step_suffix(const std::string& notify_step) {
  return notify_step.empty() ? "" : " (last notify step: " + notify_step + ")";
}

[[noreturn]] void throw_response_failure(const Call& call, const criu::criu_resp& resp,
                                         const std::string& last_notify, const CriuProcess& proc) {
  std::string msg = "criu " + call.name + " failed" + step_suffix(last_notify);
  std::string errmsg = useful_errmsg(resp.cr_errmsg());
  if (!errmsg.empty()) msg += ": " + errmsg;
  int cr_errno = resp.has_cr_errno() ? resp.cr_errno() : 0;
  if (cr_errno) msg += " (cr_errno " + errno_name(cr_errno) + ": " + std::strerror(cr_errno) + ")";
  throw CriuError(msg + evidence(call.log, proc), cr_errno);
}

[[noreturn]] void throw_died(const Call& call, CriuProcess& proc, const std::string& last_notify,
                             const std::string& handler_error) {
  int status = proc.wait(kExitGraceMs);
  std::string msg = "criu " + call.name + ": criu (pid " + std::to_string(proc.pid()) + ") " +
                    describe_wait_status(status) + " before answering" + step_suffix(last_notify);
  if (!handler_error.empty()) msg += "; the notify handler had failed: " + handler_error;
  throw CriuError(msg + evidence(call.log, proc));
}

// Runs the handler for one NOTIFY and returns the reply for criu. A throwing handler fails the step.
criu::criu_req answer_notify(const Call& call, const criu::criu_resp& resp, Message& m, pid_t criu_pid,
                             const NotifyHandler& handler, std::string& handler_error) {
  Notify n;
  n.request = call.name;
  n.script = resp.notify().script();
  n.pid = resp.notify().has_pid() ? resp.notify().pid() : 0;
  n.criu_pid = criu_pid;
  n.fd = std::move(m.fd);
  criu::criu_req reply = make_request(criu::NOTIFY);
  try {
    if (handler) handler(n);
    reply.set_notify_success(true);
    if (!n.reply_external.empty()) {
      auto* opts = reply.mutable_opts();
      opts->set_images_dir_fd(-1);  // required field
      for (const auto& e : n.reply_external) opts->add_external(e);
    }
  } catch (const std::exception& e) {
    handler_error = e.what();
    reply.set_notify_success(false);
  }
  return reply;
}

class Budget {  // the request timeout, not counting time spent in our notify handlers
 public:
  explicit Budget(std::chrono::milliseconds total) : left_(total), unlimited_(total.count() <= 0) {}
  int poll_ms() const {
    return unlimited_ ? -1 : static_cast<int>(std::max<int64_t>(0, left_.count()));
  }
  void spend(Clock::duration d) {
    left_ -= std::chrono::duration_cast<std::chrono::milliseconds>(d);
  }

 private:
  std::chrono::milliseconds left_;
  bool unlimited_;
};

criu::criu_resp parse_response(const Call& call, const Message& m) {
  criu::criu_resp resp;
  if (!resp.ParseFromString(m.data))
    throw CriuError("criu " + call.name + ": cannot parse criu's response (" +
                    std::to_string(m.data.size()) + " bytes) as criu_resp");
  return resp;
}

// One request on a fresh criu: send, answer notifications until the final response, reap criu.
criu::criu_resp run_request(const CriuConfig& config, const std::string& binary, const KerndatMount& kerndat,
                            const criu::criu_req& req, const Call& call,
                            const NotifyHandler& handler) {
  SpawnSpec spec{binary,           call.pass_fds,    config.stdin_fd, config.stdout_fd,
                 config.stderr_fd, config.tools_dir, kerndat,         call.netns_fd};
  std::optional<CriuProcess> started;
  try {
    started.emplace(CriuProcess::spawn(spec));
  } catch (const Error& e) {
    throw CriuError("criu " + call.name + ": " + e.what());
  }
  CriuProcess& proc = *started;
  std::string last_notify, handler_error;
  if (!proc.send(req.SerializeAsString())) throw_died(call, proc, "", "");

  Budget budget(config.timeout);
  for (;;) {
    Message m;
    auto t0 = Clock::now();
    Received got = proc.receive(m, budget.poll_ms());
    budget.spend(Clock::now() - t0);
    if (got == Received::TimedOut) {
      proc.kill();
      proc.wait(-1);
      throw CriuError("criu " + call.name + ": no answer from criu within " +
                      std::to_string(config.timeout.count()) + " ms; killed it" +
                      step_suffix(last_notify) + evidence(call.log, proc));
    }
    if (got == Received::Closed) throw_died(call, proc, last_notify, handler_error);

    criu::criu_resp resp = parse_response(call, m);
    if (resp.type() == criu::NOTIFY && resp.has_notify()) {
      last_notify = resp.notify().script();
      criu::criu_req reply = answer_notify(call, resp, m, proc.pid(), handler, handler_error);
      // If criu died meanwhile (perhaps the handler killed it) the next receive reports it.
      proc.send(reply.SerializeAsString());
      continue;
    }
    proc.wait(kExitGraceMs);  // one request per criu: it exits after answering
    if (!handler_error.empty())
      throw CriuError("criu " + call.name + " failed in notify step " + last_notify +
                      ": handler error: " + handler_error + evidence(call.log, proc));
    if (!resp.success()) throw_response_failure(call, resp, last_notify, proc);
    if (resp.type() != req.type())
      throw CriuError("criu " + call.name + ": criu answered a " + request_name(resp.type()) +
                      " request instead");
    return resp;
  }
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// The binary to run: a name without a slash is looked up on PATH (plus the sbin dirs, which a
// non-root PATH often lacks).
std::string resolve_binary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  std::string path = (env && *env) ? env : "/usr/local/bin:/usr/bin:/bin";
  path += ":/usr/local/sbin:/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (executable(candidate)) return candidate;
  }
  throw CriuError("criu: `" + name + "` not found on PATH (" + path + ")");
}

criu::criu_opts check_opts() {
  criu::criu_opts p;
  p.set_images_dir_fd(-1);
  p.set_log_level(4);
  p.set_log_to_stderr(true);  // no images or work dir for a check: its log comes to our capture
  return p;
}

}  // namespace

bool CriuVersion::at_least(int maj, int min, int sub) const {
  if (major != maj) return major > maj;
  if (minor != min) return minor > min;
  return sublevel >= sub;
}

std::string CriuVersion::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(sublevel);
}

std::string find_criu_binary() {
  // Prefer the CRIU built by scripts/setup.sh over an older distribution one earlier on PATH.
  const std::string preferred = "/usr/local/sbin/criu";
  if (executable(preferred)) return preferred;
  return resolve_binary("criu");
}

CriuClient::CriuClient(CriuConfig config)
    : config_(std::move(config)),
      binary_(config_.binary.empty() ? find_criu_binary() : resolve_binary(config_.binary)) {
  if (config_.keep_kerndat_cache) kerndat_ = prepare_kerndat_cache(binary_);
}

CriuVersion CriuClient::version() {
  criu::criu_req req = make_request(criu::VERSION);
  criu::criu_resp resp = run_request(config_, binary_, kerndat_, req, Call{"version", {}, {}}, {});
  if (!resp.has_version()) throw CriuError("criu version: the response carries no version");
  return from_proto(resp.version());
}

void CriuClient::check() {
  criu::criu_req req = make_request(criu::CHECK);
  *req.mutable_opts() = check_opts();
  run_request(config_, binary_, kerndat_, req, Call{"check", {}, {}}, {});
}

CriuFeatures CriuClient::feature_check() {
  criu::criu_req req = make_request(criu::FEATURE_CHECK);
  auto* f = req.mutable_features();
  f->set_mem_track(true);
  f->set_lazy_pages(true);
  f->set_pidfd_store(true);
  criu::criu_resp resp = run_request(config_, binary_, kerndat_, req, Call{"feature-check", {}, {}}, {});
  if (!resp.has_features()) throw CriuError("criu feature-check: the response carries no features");
  return from_proto(resp.features());
}

namespace {

template <typename Options>
criu::criu_req build(criu::criu_req_type type, const Options& opts, const std::string& name,
                     bool has_handler) {
  criu::criu_req req = make_request(type);
  *req.mutable_opts() = to_proto(opts, name);
  if (has_handler) req.mutable_opts()->set_notify_scripts(true);
  return req;
}

}  // namespace

void CriuClient::dump(const DumpOptions& opts, const NotifyHandler& on_notify) {
  criu::criu_req req = build(criu::DUMP, opts, "dump", bool(on_notify));
  Call call{"dump", log_location(opts, req.opts()), {}, opts.criu_netns_fd};
  // A connected page-server socket is named by its number in criu's table: criu must get it.
  if (opts.page_server && opts.page_server->fd > 2) call.pass_fds.push_back(opts.page_server->fd);
  run_request(config_, binary_, kerndat_, req, call, on_notify);
}

void CriuClient::pre_dump(const DumpOptions& opts, const NotifyHandler& on_notify) {
  criu::criu_req req = build(criu::SINGLE_PRE_DUMP, opts, "pre-dump", bool(on_notify));
  run_request(config_, binary_, kerndat_, req, Call{"pre-dump", log_location(opts, req.opts()), {}, opts.criu_netns_fd},
              on_notify);
}

pid_t CriuClient::restore(const RestoreOptions& opts, const NotifyHandler& on_notify) {
  criu::criu_req req = build(criu::RESTORE, opts, "restore", bool(on_notify));
  Call call{"restore", log_location(opts, req.opts()), {}, opts.criu_netns_fd};
  // inherit_fd numbers are looked up in criu's own table (swrk only), so criu must get them.
  for (const auto& f : opts.inherit_fds)
    if (f.fd > 2) call.pass_fds.push_back(f.fd);
  criu::criu_resp resp = run_request(config_, binary_, kerndat_, req, call, on_notify);
  if (!resp.has_restore() || resp.restore().pid() <= 0)
    throw CriuError("criu restore: succeeded but reported no restored pid");
  return resp.restore().pid();
}

}  // namespace cryo::checkpoint
