#include "checkpoint/criu_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <vector>

#include "base/fd.h"

namespace cryo::checkpoint {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

bool is_harmless_error(const std::string& line) {
  return line.find("Can't setup RLIMIT_NOFILE") != std::string::npos;
}

std::string log_excerpt(const std::string& log, size_t max_errors, size_t tail) {
  std::vector<std::string> lines = split_lines(log);
  // The harmless rlimit line is dropped everywhere so nobody mistakes it for the cause.
  std::vector<size_t> useful;
  for (size_t i = 0; i < lines.size(); ++i)
    if (!is_harmless_error(lines[i])) useful.push_back(i);
  std::set<size_t> quoted;
  size_t errors = 0;
  for (size_t i : useful) {
    if (errors == max_errors) break;
    if (lines[i].find("Error") == std::string::npos) continue;
    quoted.insert(i);
    ++errors;
  }
  for (size_t k = useful.size() > tail ? useful.size() - tail : 0; k < useful.size(); ++k)
    quoted.insert(useful[k]);
  // In file order, with "..." where lines were left out, so it reads like the log itself.
  std::string out;
  size_t next = 0;
  for (size_t i : quoted) {
    if (i != next) out += "  ...\n";
    out += "  " + lines[i] + "\n";
    next = i + 1;
  }
  return out;
}

std::string useful_errmsg(const std::string& errmsg) {
  return is_harmless_error(errmsg) ? std::string() : errmsg;
}

std::optional<std::string> read_log(int dirfd, const std::string& name, size_t max_bytes) {
  UniqueFd fd(::openat(dirfd < 0 ? AT_FDCWD : dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  // A debug log can be large; the end is what explains a failure (errors are usually near it).
  off_t start = st.st_size > static_cast<off_t>(max_bytes) ? st.st_size - max_bytes : 0;
  std::string out;
  char buf[65536];
  for (off_t off = start;;) {
    ssize_t n = ::pread(fd.get(), buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  if (start > 0) {  // drop the partial first line
    size_t nl = out.find('\n');
    out.erase(0, nl == std::string::npos ? out.size() : nl + 1);
  }
  return out;
}

std::string fd_path(int fd) {
  char buf[4096];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "fd " + std::to_string(fd);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace cryo::checkpoint
