// Messages that carry file descriptors (SCM_RIGHTS) over unix sockets: the one place that builds
// and parses the control data.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"

namespace cryo {

// Sends `data` with `fds` attached (MSG_NOSIGNAL added; EINTR retried). Returns 0 or the errno.
int send_with_fds(int sock, std::string_view data, const std::vector<int>& fds, int flags = 0);

struct ReceivedMessage {
  ssize_t size = 0;            // bytes received: 0 at EOF, -1 on error (errno set)
  bool truncated = false;      // the message or its fds did not fit
  std::vector<UniqueFd> fds;   // close-on-exec
};

// Receives one message into `buf` (at most buf.size() bytes; resized to what came) with up to
// `max_fds` descriptors (EINTR retried).
ReceivedMessage recv_with_fds(int sock, std::string& buf, size_t max_fds, int flags = 0);

}  // namespace cryo
