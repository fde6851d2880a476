#include "checkpoint/kerndat_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "base/error.h"
#include "base/file.h"
#include "base/text.h"  // words

extern char** environ;

namespace cryo::checkpoint {
namespace {

constexpr const char* kCriuCacheFile = "/run/criu.kdat";
constexpr const char* kPrefix = "criu-kdat-";
constexpr int kGenerateTimeoutMs = 30000;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::optional<std::string> binary_identity(const std::string& binary) {
  struct stat st = {};
  if (::stat(binary.c_str(), &st) != 0) return std::nullopt;
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// The mount holding /run/criu.kdat: /run when /run is a mount point of its own, else /.
std::string mount_holding_run() {
  struct statx st = {};
  bool own_mount = ::statx(AT_FDCWD, "/run", AT_SYMLINK_NOFOLLOW, 0, &st) == 0 &&
                   (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (st.stx_attributes & STATX_ATTR_MOUNT_ROOT);
  return own_mount ? "/run" : "/";
}

// The bind mount's target must exist on the host: an empty file, which criu treats as a stale
// cache if it ever reads it outside our namespace.
bool ensure_bind_target() {
  int fd = ::open(kCriuCacheFile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  struct stat st = {};
  return errno == EEXIST && ::lstat(kCriuCacheFile, &st) == 0 && S_ISREG(st.st_mode);
}

// A detached tmpfs: the /run that criu sees while it generates the cache.
UniqueFd detached_tmpfs() {
  UniqueFd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
  if (!fs) throw_errno("fsopen tmpfs for criu's kerndat cache");
  if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "size", "1m", 0) != 0 ||
      ::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    throw_errno("create a tmpfs for criu's kerndat cache");
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  if (!mnt) throw_errno("fsmount a tmpfs for criu's kerndat cache");
  return mnt;
}

// Child: a private mount namespace with the tmpfs on /run, then `criu check --feature mnt_id`,
// which probes the kernel and saves /run/criu.kdat (a tmpfs now) before its one small check.
[[noreturn]] void generate_in_child(int tmpfs, char* const* argv, int dev_null) {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::move_mount(tmpfs, "", AT_FDCWD, "/run", MOVE_MOUNT_F_EMPTY_PATH) != 0)
    ::_exit(126);
  for (int i = 0; i < 3; ++i) ::dup2(dev_null, i);
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv, environ);
  ::_exit(127);
}

void generate(const std::string& criu_binary, const std::string& cache_file) {
  UniqueFd tmpfs = detached_tmpfs();
  UniqueFd dev_null = open_or_throw("/dev/null", O_RDWR | O_CLOEXEC);
  std::string b = criu_binary, check = "check", feature = "--feature", mnt_id = "mnt_id";
  char* argv[] = {b.data(), check.data(), feature.data(), mnt_id.data(), nullptr};
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork to generate criu's kerndat cache");
  if (pid == 0) generate_in_child(tmpfs.get(), argv, dev_null.get());
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  struct pollfd p = {pidfd.get(), POLLIN, 0};
  if (pidfd && ::poll(&p, 1, kGenerateTimeoutMs) == 0) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error("criu check for the kerndat cache failed");
  UniqueFd cached(::openat(tmpfs.get(), "criu.kdat", O_RDONLY | O_CLOEXEC));
  if (!cached) throw_errno("criu left no criu.kdat");
  std::string data = read_fd(cached.get());
  if (data.empty()) throw Error("criu left an empty criu.kdat");
  write_file_atomic(cache_file, data, 0600);
}

// Caches of other boots or criu binaries are of no further use.
void remove_stale(const std::string& dir, const std::string& keep) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) == 0 && name != keep) ::unlinkat(::dirfd(d), name.c_str(), 0);
  }
  ::closedir(d);
}

}  // namespace

std::string kerndat_cache_name(const std::string& boot_id, const std::string& binary_identity) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(binary_identity)));
  return kPrefix + boot_id + "-" + hex;
}

KerndatMount prepare_kerndat_cache(const std::string& criu_binary, const std::string& cache_dir) {
  const char* toggle = std::getenv("CRYO_CRIU_KDAT_CACHE");
  if (toggle && std::string(toggle) == "0") return {};
  try {
    auto identity = binary_identity(criu_binary);
    if (!identity) return {};
    std::string dir = cache_dir.empty() ? "/var/cache/cryo" : cache_dir;
    auto boot_id = words(read_file("/proc/sys/kernel/random/boot_id"));
    if (boot_id.size() != 1) return {};
    std::string name = kerndat_cache_name(boot_id[0], *identity);
    std::string file = dir + "/" + name;
    if (!path_exists(file)) {
      make_dirs(dir, 0700);
      generate(criu_binary, file);
      remove_stale(dir, name);
    }
    if (!ensure_bind_target()) return {};
    return {file, kCriuCacheFile, mount_holding_run()};
  } catch (const std::exception&) {
    return {};  // criu probes the kernel itself
  }
}

void KerndatMount::apply_in_child() const {
  if (source.empty()) return;
  if (::unshare(CLONE_NEWNS) != 0) return;
  // A shared mount would carry the bind back to the host's mount table.
  if (::mount(nullptr, shared_root.c_str(), nullptr, MS_SLAVE, nullptr) != 0) return;
  ::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr);
}

}  // namespace cryo::checkpoint
