// One `criu swrk` child and the SOCK_SEQPACKET socket we talk to it over (internal).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/fd.h"
#include "checkpoint/kerndat_cache.h"

namespace cryo::checkpoint {

struct SpawnSpec {
  std::string binary;         // a path (resolved by the caller)
  std::vector<int> pass_fds;  // our descriptors (>= 3) that criu gets at the same numbers
  int stdin_fd = -1;          // -1: /dev/null
  int stdout_fd = -1;         // -1: the capture buffer
  int stderr_fd = -1;         // -1: the capture buffer
  std::string path_prefix;    // a directory put first on criu's PATH (the tools it runs)
  KerndatMount kerndat;       // criu's kernel-probe cache, when cryo keeps it
  int netns_fd = -1;          // a network namespace criu runs in (-1: ours)
};

struct Message {
  std::string data;
  UniqueFd fd;  // a descriptor passed with SCM_RIGHTS, if any
};

enum class Received { Message, Closed, TimedOut };

class CriuProcess {
 public:
  // Starts `binary swrk <fd>`. Throws SysError when it cannot be started (exec errors included).
  static CriuProcess spawn(const SpawnSpec& spec);

  CriuProcess(CriuProcess&& o) noexcept;
  CriuProcess& operator=(CriuProcess&&) = delete;
  ~CriuProcess();  // kills and reaps criu if it is still there

  pid_t pid() const { return pid_; }

  // false when criu has gone away (its end of the socket is closed).
  bool send(const std::string& bytes);
  // Waits up to timeout_ms (-1: forever) for one message. Closed: criu closed the socket or exited.
  Received receive(Message& out, int timeout_ms);
  // Waits for criu to exit, killing it after grace_ms; returns the wait status.
  int wait(int grace_ms);
  void kill();
  // What criu wrote to stdout/stderr when they were captured (the last 64 KiB).
  std::string captured_output() const;

 private:
  CriuProcess() = default;
  Received read_message(Message& out);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  UniqueFd sock_;
  UniqueFd pidfd_;
  UniqueFd capture_;
};

// "exited with status 1", "was killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

}  // namespace cryo::checkpoint
