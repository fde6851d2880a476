// Picking the lines of a CRIU log that explain a failure (internal).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace cryo::checkpoint {

// Lines CRIU marks as errors on every run here although nothing failed (RLIMIT_NOFILE: root lacks
// CAP_SYS_RESOURCE on these machines).
bool is_harmless_error(const std::string& line);

// The error lines (first `max_errors`, harmless ones skipped) followed by the last `tail` lines
// that were not already quoted, each indented by two spaces. Empty for an empty log.
std::string log_excerpt(const std::string& log, size_t max_errors = 10, size_t tail = 10);

// CRIU's cr_errmsg is the first error line of its log, which here is often the harmless rlimit one.
std::string useful_errmsg(const std::string& errmsg);

// Reads `name` inside the directory `dirfd` (or the path `name` when dirfd < 0); keeps only the
// last `max_bytes`. nullopt when it does not exist or cannot be read.
std::optional<std::string> read_log(int dirfd, const std::string& name, size_t max_bytes = 8 << 20);

// Where an fd points, for messages ("/tmp/x"); "fd N" when unknown.
std::string fd_path(int fd);

}  // namespace cryo::checkpoint
