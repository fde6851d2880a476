// Terminals: a pty whose master goes to the console socket (SCM_RIGHTS), as runc's clients expect.
#pragma once

#include <string>
#include <vector>

#include "base/fd.h"

namespace cryo::runtime {

// Connects to the console socket given with --console-socket.
UniqueFd connect_console_socket(const std::string& path);
// Opens a new pty from /dev/ptmx, sends its master over `socket` and makes the slave the
// caller's controlling terminal and stdio. The caller must be a session leader.
void setup_console(int socket, unsigned rows, unsigned cols);
// Sends fds with SCM_RIGHTS along with a payload.
void send_fds(int socket, const std::string& payload, const std::vector<int>& fds);
// Receives one message and at most one fd.
UniqueFd receive_fd(int socket, std::string* payload);

}  // namespace cryo::runtime
