// The sentry: one small long-lived process per sandbox. It parents the sandbox's container
// init (and reaps as a child subreaper), runs commands in the container on request and streams
// their output, and tears the sandbox down on `kill`. One thread, one poll loop.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "oci/spec.h"
#include "sentry/launcher.h"
#include "sentry/layout.h"
#include "sentry/protocol.h"
#include "sentry/supervisor.h"

namespace cryo::sentry {

using Clock = std::chrono::steady_clock;

struct Connection {
  UniqueFd fd;
  LineBuffer in;
  std::string out;           // bytes waiting for the socket to accept them
  std::string cmd;           // set on an exec connection: the command it streams
  bool close_when_flushed = false;
};

struct Command {
  std::string id;
  // The child we wait for: the process itself when the launcher forked it, else the forked
  // sentry child that runs runtime::container_exec. -1 while the launcher has not answered.
  pid_t helper = -1;
  pid_t pid = 0;      // host pid of the exec'd process (its process group), once known
  UniqueFd in, out, err;
  // Until the command is forked: the process and the pipes' other ends, kept for the fallback.
  std::optional<oci::Process> process;
  UniqueFd child_in, child_out, child_err;
  int pending_signal = 0;  // asked for before the launcher reported the pid
  std::string stdin_pending;
  bool stdin_close = false;
  uint64_t conn = 0;  // connection streaming the output; 0 when nobody listens
  std::optional<Clock::time_point> deadline;
  bool exited = false, timed_out = false;
  int exit_code = -1;
  Clock::time_point exited_at;
};

class Sentry {
 public:
  Sentry(SandboxPaths paths, SentryConfig cfg);
  ~Sentry();
  // Brings the container up, then reports "ok" (or "error: ...") on ready_fd (-1: none).
  void start(int ready_fd);
  // Serves until `kill`, SIGTERM or the init's death; returns the process exit code.
  int serve();

 private:
  struct Slot;     // one polled fd and what it stands for
  struct PollSet;  // the fds of one round of the loop

  // Bring-up, the loop and the end (sentry.cc).
  pid_t bring_up_with_helper();
  void report_ready(int ready_fd);
  PollSet poll_set() const;
  void dispatch(const Slot& s, short revents);
  void shut_down(const std::string& why);

  // Connections and their requests (sentry_requests.cc).
  void accept_connections();
  void read_connection(uint64_t conn_id);
  void send(uint64_t conn_id, const nlohmann::json& msg);
  void reply_and_close(uint64_t conn_id, const nlohmann::json& msg);
  void flush(Connection& c);
  void handle_request(uint64_t conn_id, const std::string& line);
  void handle_exec(uint64_t conn_id, const nlohmann::json& req);
  void handle_stdin(const nlohmann::json& req);
  void handle_signal(const nlohmann::json& req);
  nlohmann::json list_commands() const;
  oci::Process exec_process(const nlohmann::json& req);
  void report_started(Command& cmd);

  // Starting commands: the launcher, exec helpers (sentry_launch.cc).
  void spawn_command(Command& cmd, const oci::Process& process);
  // By value: callers pass cmd.process, which this resets.
  void spawn_with_helper(Command& cmd, oci::Process process);
  void start_launcher();
  void read_launcher();
  void launcher_gone(const std::string& why);
  void launched(Command& cmd, pid_t pid);
  void fail_to_start(Command& cmd, const std::string& why);

  // Running commands (sentry_commands.cc).
  void signal_command(Command& cmd, int sig);
  void reap_children();
  void pump_output(Command& cmd, bool is_err, bool drain);
  void pump_stdin(Command& cmd);
  void finish_command(const std::string& id);
  void check_commands();

  SandboxPaths paths_;
  SentryConfig cfg_;
  oci::Process base_process_;  // the container's process from config.json: env, caps, user
  pid_t init_pid_ = 0;
  UniqueFd init_pidfd_, root_fd_, listen_fd_, signal_fd_;
  std::map<uint64_t, Connection> conns_;
  std::map<std::string, std::unique_ptr<Command>> cmds_;
  std::unique_ptr<Launcher> launcher_;
  std::unique_ptr<Supervisor> supervisor_;  // only with supervision rules
  bool launcher_ready_ = false;
  bool launcher_failed_ = false;  // it could not get ready: exec helpers from then on
  std::deque<std::string> launching_;  // commands sent to the launcher, in order, awaiting their pid
  std::map<pid_t, int> early_exits_;   // children reaped while launches were pending: pid -> status
  uint64_t next_conn_ = 1;
  uint64_t next_cmd_ = 1;
  bool stopping_ = false;
  int exit_code_ = 0;
  uint64_t kill_conn_ = 0;  // the connection that asked for `kill`, answered after tear-down
};

}  // namespace cryo::sentry
