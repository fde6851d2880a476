#include "runtime/rootfs/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/rootfs/mount_options.h"
#include "runtime/rootfs/secure_path.h"

namespace cryo::runtime {
namespace {

void sys_mount(const std::string& src, const std::string& target, const char* type, unsigned long flags,
               const std::string& data, const std::string& what) {
  if (::mount(src.empty() ? nullptr : src.c_str(), target.c_str(), type, flags,
              data.empty() ? nullptr : data.c_str()) != 0)
    throw_errno(what);
}

bool is_dir_path(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Flags that a bind remount must keep: in a user namespace they are locked.
unsigned long locked_flags(const std::string& path) {
  struct statvfs sv;
  if (::statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

void mount_cgroups(int root_fd, const std::string& dest, unsigned long flags) {
  const CgroupMounts& host = host_cgroup_mounts();
  std::string what = "mount cgroup on `" + dest + "`";
  UniqueFd target = open_in_root(root_fd, dest, Create::Dir);
  if (host.layout == CgroupLayout::V2) {
    sys_mount("cgroup2", fd_path(target.get()), "cgroup2", flags, "", what);
    return;
  }
  // v1 and hybrid: a tmpfs holding one mount per hierarchy, as on the host.
  sys_mount("tmpfs", fd_path(target.get()), "tmpfs", flags & ~MS_RDONLY, "mode=755", what);
  std::map<std::string, std::string> by_mount;  // mountpoint -> controllers
  for (auto& [ctl, mp] : host.v1) by_mount[mp] += (by_mount[mp].empty() ? "" : ",") + ctl;
  for (auto& [mp, ctls] : by_mount) {
    std::string sub = dest + mp.substr(mp.find_last_of('/'));
    UniqueFd fd = open_in_root(root_fd, sub, Create::Dir);
    sys_mount("cgroup", fd_path(fd.get()), "cgroup", flags, ctls, "mount cgroup `" + ctls + "` on `" + sub + "`");
  }
  if (!host.unified.empty()) {
    std::string sub = dest + host.unified.substr(host.unified.find_last_of('/'));
    UniqueFd fd = open_in_root(root_fd, sub, Create::Dir);
    sys_mount("cgroup2", fd_path(fd.get()), "cgroup2", flags, "", "mount cgroup2 on `" + sub + "`");
  }
  if (flags & MS_RDONLY) {
    UniqueFd mounted = open_in_root(root_fd, dest, Create::None);
    sys_mount("", fd_path(mounted.get()), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | (flags & ~MS_RDONLY), "",
              "remount `" + dest + "` read-only");
  }
}

void do_mount(int root_fd, const oci::Mount& m, const RootfsOptions& opts) {
  MountFlags mf = parse_mount_options(m.options);
  std::string dest = clean_path(m.destination);
  std::string what = "mount `" + (m.source.empty() ? m.type : m.source) + "` on `" + dest + "`";
  if (m.type == "cgroup") return mount_cgroups(root_fd, dest, mf.flags);

  std::string source = m.source;
  if (mf.bind() && !source.empty() && source[0] != '/') source = opts.bundle + "/" + source;
  Create kind = (mf.bind() && !is_dir_path(source)) ? Create::File : Create::Dir;
  UniqueFd target = open_in_root(root_fd, dest, kind);
  std::string tpath = fd_path(target.get());

  if (mf.bind()) {
    sys_mount(source, tpath, nullptr, MS_BIND | (mf.flags & MS_REC), "", what);
    unsigned long extra = mf.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra) {
      UniqueFd mounted = open_in_root(root_fd, dest, Create::None);
      std::string mpath = fd_path(mounted.get());
      sys_mount("", mpath, nullptr, MS_BIND | MS_REMOUNT | extra | locked_flags(mpath), "", what + " (remount)");
    }
  } else {
    std::string type = m.type.empty() ? "none" : m.type;
    try {
      sys_mount(source.empty() ? type : source, tpath, type.c_str(), mf.flags, mf.data, what);
    } catch (const SysError& e) {
      // Without a new network namespace the kernel refuses a fresh sysfs: bind the host's, read-only.
      if (type != "sysfs" || e.code() != EPERM) throw;
      sys_mount("/sys", tpath, nullptr, MS_BIND | MS_REC, "", what + " (bind fallback)");
      UniqueFd mounted = open_in_root(root_fd, dest, Create::None);
      sys_mount("", fd_path(mounted.get()), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "", what + " (remount read-only)");
    }
  }
  if (mf.propagation) {
    UniqueFd mounted = open_in_root(root_fd, dest, Create::None);
    sys_mount("", fd_path(mounted.get()), nullptr, mf.propagation, "", "set propagation of `" + dest + "`");
  }
}

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"/dev/null", 1, 3},    {"/dev/zero", 1, 5},
                                             {"/dev/full", 1, 7},    {"/dev/random", 1, 8},
                                             {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

void make_device(int root_fd, const oci::Device& d, bool bind_from_host) {
  std::string path = clean_path(d.path);
  UniqueFd parent = open_in_root(root_fd, path.substr(0, path.find_last_of('/')), Create::Dir);
  std::string leaf = path.substr(path.find_last_of('/') + 1);
  if (bind_from_host) {
    // mknod is not allowed in a user namespace: bind the host's node onto an empty file.
    int fd = ::openat(parent.get(), leaf.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST) throw_errno("create `" + path + "`");
    if (fd >= 0) ::close(fd);
    UniqueFd target = open_in_root(root_fd, path, Create::None);
    sys_mount(d.path, fd_path(target.get()), nullptr, MS_BIND, "", "bind device `" + d.path + "`");
    return;
  }
  mode_t type = d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR;
  mode_t mode = type | (d.file_mode ? *d.file_mode : 0666);
  ::unlinkat(parent.get(), leaf.c_str(), 0);
  if (::mknodat(parent.get(), leaf.c_str(), mode, makedev(d.major, d.minor)) != 0)
    throw_errno("mknod `" + path + "`");
  // mknod applies the umask; set the exact mode and owner the config asks for.
  UniqueFd node(::openat(parent.get(), leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!node) throw_errno("open `" + path + "`");
  if (::fchmodat(parent.get(), leaf.c_str(), mode & 07777, 0) != 0) throw_errno("chmod `" + path + "`");
  if (::fchownat(parent.get(), leaf.c_str(), d.uid.value_or(0), d.gid.value_or(0), AT_SYMLINK_NOFOLLOW) != 0)
    throw_errno("chown `" + path + "`");
}

void create_devices(int root_fd, const oci::Spec& spec, const RootfsOptions& opts) {
  for (auto& dd : kDefaultDevices) {
    bool configured = false;
    for (auto& d : spec.linux.devices) configured = configured || clean_path(d.path) == dd.path;
    if (!configured) make_device(root_fd, {"c", dd.path, dd.major, dd.minor, 0666, 0, 0}, opts.user_namespace);
  }
  for (auto& d : spec.linux.devices) make_device(root_fd, d, opts.user_namespace);

  UniqueFd dev = open_in_root(root_fd, "/dev", Create::Dir);
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
                                                       {"/proc/kcore", "core"}};
  for (auto& [target, name] : links)
    if (::symlinkat(target, dev.get(), name) != 0 && errno != EEXIST) throw_errno(std::string("symlink /dev/") + name);
  struct stat st;
  if (::fstatat(dev.get(), "pts/ptmx", &st, 0) == 0) {
    ::unlinkat(dev.get(), "ptmx", 0);
    if (::symlinkat("pts/ptmx", dev.get(), "ptmx") != 0) throw_errno("symlink /dev/ptmx");
  }
}

bool mounts_dev(const oci::Spec& spec) {
  for (auto& m : spec.mounts)
    if (clean_path(m.destination) == "/dev") return true;
  return false;
}

}  // namespace

RootfsOptions rootfs_options(const oci::Spec& spec, const std::string& rootfs, const std::string& bundle,
                             bool no_pivot) {
  return {rootfs, bundle, no_pivot, spec.linux.find_namespace("user") != nullptr,
          spec.linux.find_namespace("mount") != nullptr};
}

RootSwitch root_switch(const RootfsOptions& opts) {
  if (!opts.mount_namespace) return RootSwitch::Chroot;  // moving or pivoting would change the host's mounts
  return opts.no_pivot ? RootSwitch::MoveAndChroot : RootSwitch::PivotRoot;
}

void prepare_rootfs(const oci::Spec& spec, const RootfsOptions& opts) {
  if (!opts.mount_namespace) return;
  // Nothing we mount may propagate back to the host.
  unsigned long prop = propagation_flags(spec.linux.rootfs_propagation);
  if (!prop || (prop & MS_SHARED)) prop = MS_SLAVE | MS_REC;
  sys_mount("", "/", nullptr, prop, "", "set propagation of `/`");
  // pivot_root needs the new root to be a mount point.
  sys_mount(opts.rootfs, opts.rootfs, nullptr, MS_BIND | MS_REC, "", "bind `" + opts.rootfs + "` onto itself");

  UniqueFd root(::open(opts.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open root `" + opts.rootfs + "`");
  for (auto& m : spec.mounts) do_mount(root.get(), m, opts);
  if (mounts_dev(spec) || !spec.linux.devices.empty()) create_devices(root.get(), spec, opts);
}

void enter_rootfs(const RootfsOptions& opts) {
  if (::chdir(opts.rootfs.c_str()) != 0) throw_errno("chdir `" + opts.rootfs + "`");
  switch (root_switch(opts)) {
    case RootSwitch::PivotRoot:
      // pivot_root(".", ".") stacks the old root under the new one; detach it right away.
      if (::syscall(SYS_pivot_root, ".", ".") != 0) throw_errno("pivot_root `" + opts.rootfs + "`");
      sys_mount("", ".", nullptr, MS_SLAVE | MS_REC, "", "make the old root a slave");
      if (::umount2(".", MNT_DETACH) != 0) throw_errno("detach the old root");
      break;
    case RootSwitch::MoveAndChroot:
      sys_mount(opts.rootfs, "/", nullptr, MS_MOVE, "", "move `" + opts.rootfs + "` to `/`");
      if (::chroot(".") != 0) throw_errno("chroot `" + opts.rootfs + "`");
      break;
    case RootSwitch::Chroot:
      if (::chroot(".") != 0) throw_errno("chroot `" + opts.rootfs + "`");
      break;
  }
  if (::chdir("/") != 0) throw_errno("chdir `/`");
}

void finish_rootfs(const oci::Spec& spec) {
  // Masked directories all show one empty read-only tmpfs: a checkpoint then archives a single
  // tmpfs for them (each costs CRIU a tar run while the container is frozen).
  std::string first_masked_dir;
  for (auto& p : spec.linux.masked_paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) continue;  // nothing to hide
    if (!S_ISDIR(st.st_mode)) {
      sys_mount("/dev/null", p, nullptr, MS_BIND, "", "mask `" + p + "`");
    } else if (first_masked_dir.empty()) {
      sys_mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k", "mask `" + p + "`");
      first_masked_dir = p;
    } else {
      sys_mount(first_masked_dir, p, nullptr, MS_BIND, "", "mask `" + p + "`");
      sys_mount("", p, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, "", "remount `" + p + "` read-only");
    }
  }
  for (auto& p : spec.linux.readonly_paths) {
    if (::access(p.c_str(), F_OK) != 0) continue;
    sys_mount(p, p, nullptr, MS_BIND | MS_REC, "", "bind `" + p + "` read-only");
    sys_mount("", p, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(p), "", "remount `" + p + "` read-only");
  }
  if (spec.root_readonly)
    sys_mount("", "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), "", "remount `/` read-only");
  unsigned long prop = propagation_flags(spec.linux.rootfs_propagation);
  if (prop & MS_SHARED) sys_mount("", "/", nullptr, prop, "", "set propagation of `/`");
}

}  // namespace cryo::runtime
