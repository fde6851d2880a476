// Errors that say what was being done and why it failed ("mount `proc` on `/proc`: EPERM").
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

namespace cryo {

// A failure with a human-readable context; the base of every error cryo reports.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A failed system call: keeps errno so callers can branch on it.
class SysError : public Error {
 public:
  SysError(int err, const std::string& doing);
  int code() const { return err_; }

 private:
  int err_;
};

// Throws SysError(errno, doing). For use right after a failed call.
[[noreturn]] void throw_errno(const std::string& doing);

// Symbolic name of an errno value ("EPERM"), falling back to the number.
std::string errno_name(int err);

}  // namespace cryo
