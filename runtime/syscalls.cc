#include "runtime/syscalls.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"

namespace cryo::runtime {
namespace {

class LinuxSyscalls final : public Syscalls {
 public:
  void mount(const std::string& source, const std::string& target, const std::string& fstype,
             unsigned long flags, const std::string& data) override {
    if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
                fstype.empty() ? nullptr : fstype.c_str(), flags, data.empty() ? nullptr : data.c_str()) != 0)
      throw_errno("mount `" + (source.empty() ? fstype : source) + "` on `" + target + "`");
  }
  void umount(const std::string& target, int flags) override {
    if (::umount2(target.c_str(), flags) != 0) throw_errno("umount `" + target + "`");
  }
  void mkdir(const std::string& path, mode_t mode) override {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir `" + path + "`");
  }
  void mknod(const std::string& path, mode_t mode, dev_t dev) override {
    if (::mknod(path.c_str(), mode, dev) != 0) throw_errno("mknod `" + path + "`");
  }
  void symlink(const std::string& target, const std::string& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0 && errno != EEXIST)
      throw_errno("symlink `" + link + "` -> `" + target + "`");
  }
  void create_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw_errno("create `" + path + "`");
    ::close(fd);
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
  void chown(const std::string& path, uid_t uid, gid_t gid) override {
    if (::lchown(path.c_str(), uid, gid) != 0) throw_errno("chown `" + path + "`");
  }
};

}  // namespace

std::shared_ptr<Syscalls> linux_syscalls() {
  static auto instance = std::make_shared<LinuxSyscalls>();
  return instance;
}

}  // namespace cryo::runtime
