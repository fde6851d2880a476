// The system calls the container setup makes, behind a small interface so that mount planning and
// cgroup logic can be unit-tested without root through a recording double.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

namespace cryo::runtime {

class Syscalls {
 public:
  virtual ~Syscalls() = default;
  virtual void mount(const std::string& source, const std::string& target, const std::string& fstype,
                     unsigned long flags, const std::string& data) = 0;
  virtual void umount(const std::string& target, int flags) = 0;
  virtual void mkdir(const std::string& path, mode_t mode) = 0;  // no error if it exists
  virtual void mknod(const std::string& path, mode_t mode, dev_t dev) = 0;
  virtual void symlink(const std::string& target, const std::string& link) = 0;
  virtual void create_file(const std::string& path) = 0;  // empty file, no error if it exists
  virtual void write_file(const std::string& path, const std::string& data) = 0;
  virtual std::optional<std::string> read_file(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual bool is_dir(const std::string& path) = 0;
  virtual void rmdir(const std::string& path) = 0;
  virtual void chown(const std::string& path, uid_t uid, gid_t gid) = 0;
};

// The real thing. Errors carry errno and what was being done.
std::shared_ptr<Syscalls> linux_syscalls();

}  // namespace cryo::runtime
