// The file system calls the cgroup code makes, behind a small interface so that cgroup logic can
// be unit-tested without root through a recording double (runtime/tests/fake_syscalls.h).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

namespace cryo::runtime {

class Syscalls {
 public:
  virtual ~Syscalls() = default;
  virtual void mkdir(const std::string& path, mode_t mode) = 0;  // no error if it exists
  virtual void write_file(const std::string& path, const std::string& data) = 0;
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual bool is_dir(const std::string& path) = 0;
  virtual void rmdir(const std::string& path) = 0;
};

// The real thing. Errors carry errno and what was being done.
std::shared_ptr<Syscalls> linux_syscalls();

}  // namespace cryo::runtime
