#include "runtime/syscalls.h"

#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"

namespace cryo::runtime {
namespace {

class LinuxSyscalls final : public Syscalls {
 public:
  void mkdir(const std::string& path, mode_t mode) override {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir `" + path + "`");
  }
  void write_file(const std::string& path, const std::string& data) override {
    write_existing_file(path, data);
  }
  std::optional<std::string> read_file(const std::string& path) override { return read_file_if_exists(path); }
  bool exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  bool is_dir(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  void rmdir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) throw_errno("rmdir `" + path + "`");
  }
};

}  // namespace

std::shared_ptr<Syscalls> linux_syscalls() {
  static auto instance = std::make_shared<LinuxSyscalls>();
  return instance;
}

}  // namespace cryo::runtime
