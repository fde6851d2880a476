// restore: a new container whose process tree CRIU restores from a checkpoint image.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>

#include "base/file.h"
#include "checkpoint/criu.h"
#include "checkpoint/lazy_pages.h"
#include "fsimage/fsimage.h"
#include "fsimage/writable_layer.h"
#include "runtime/checkpoint_image.h"
#include "runtime/container_internal.h"
#include "runtime/criu_options.h"
#include "runtime/process/console.h"
#include "runtime/rootfs/mount_options.h"
#include "runtime/rootfs/secure_path.h"

namespace cryo::runtime {
namespace {

bool empty_dir(const std::string& path) {
  std::string out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return false;
  DIR* d = ::fdopendir(fd.release());
  bool empty = true;
  while (struct dirent* e = ::readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") empty = false;
  ::closedir(d);
  return empty;
}

// The size of the restored root's writable layer from kUpperSizeAnnotation; 0 when not set (the
// upper then lives in the state directory, as runc's would).
uint64_t upper_size_bytes(const oci::Spec& spec) {
  auto it = spec.annotations.find(kUpperSizeAnnotation);
  if (it == spec.annotations.end()) return 0;
  const std::string& text = it->second;
  uint64_t size = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (ec != std::errc() || end != text.data() + text.size() || size == 0)
    throw Error(std::string("config.json: annotations.\"") + kUpperSizeAnnotation + "\": expected a positive number of bytes, got `" +
                text + "`");
  return size;
}

// The restored root: a fresh upper over the checkpoint's diff layer and the original lowers.
// With `upper_size` the upper and work dirs sit on a tmpfs of that size mounted on overlay_dir.
void mount_restored_root(const GlobalOptions& g, const std::string& image, const CheckpointMeta& meta,
                         const std::string& overlay_dir, uint64_t upper_size, const std::string& rootfs) {
  fsimage::LayerStore layers(layer_store_root(g));
  std::string digest = layers.put_tar(image + "/" + kRootfsDiff, meta.diff_digest);
  fsimage::OverlayConfig cfg;
  cfg.lowers.push_back(layers.dir_for(digest));
  for (auto& l : meta.overlay->lowers) cfg.lowers.push_back(l);
  fsimage::WritableLayer layer;
  if (upper_size) {
    layer = fsimage::WritableLayer(overlay_dir, upper_size);
    cfg.upper = layer.upper();
    cfg.work = layer.work();
  } else {
    cfg.upper = overlay_dir + "/upper";
    cfg.work = overlay_dir + "/work";
    make_dirs(cfg.upper, 0755);
    make_dirs(cfg.work, 0755);
  }
  fsimage::OverlayMount(cfg, rootfs).release();
  layer.release();  // container delete unmounts both (unmount_writable_layer)
}

// The process's cgroup memberships ("/proc/self/cgroup"), to move back after the restore.
std::vector<std::string> own_cgroup_procs_files() {
  std::vector<std::string> files;
  const CgroupMounts& m = host_cgroup_mounts();
  std::istringstream in(read_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    std::string ctls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::string mountpoint;
    if (ctls.empty()) mountpoint = m.unified;
    else {
      std::string first = ctls.substr(0, ctls.find(','));
      auto it = m.v1.find(first);
      if (it != m.v1.end()) mountpoint = it->second;
    }
    if (!mountpoint.empty()) files.push_back(mountpoint + path + "/cgroup.procs");
  }
  return files;
}

void move_to(const std::vector<std::string>& procs_files) {
  for (auto& f : procs_files) {
    try {
      write_existing_file(f, std::to_string(::getpid()));
    } catch (const SysError&) {
      // A hierarchy we may not write to (e.g. a delegated one) keeps us; harmless.
    }
  }
}

struct RestoreRollback {
  const StateStore& store;
  std::string id;
  std::unique_ptr<Cgroup> cgroup;
  std::string mounted_root, overlay_dir;
  pid_t pid = 0;
  bool done = false;
  ~RestoreRollback() {
    if (done) return;
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    try {
      if (cgroup) {
        for (pid_t p : cgroup->pids()) ::kill(p, SIGKILL);
        if (cgroup->exists()) cgroup->destroy();
      }
    } catch (...) {
    }
    if (!mounted_root.empty()) ::umount2(mounted_root.c_str(), MNT_DETACH);
    try {
      if (!overlay_dir.empty()) unmount_writable_layer(overlay_dir);
      if (!overlay_dir.empty()) remove_tree(overlay_dir);
      store.remove(id);
    } catch (...) {
    }
  }
};

checkpoint::RestoreOptions restore_options(const RestoreOptions& o, const oci::Spec& spec, const std::string& bundle,
                                           const std::string& rootfs, int images_fd, int work_fd) {
  checkpoint::RestoreOptions r;
  apply_common_options(r, o.tcp_established, o.ext_unix_sk, o.shell_job, o.file_locks, o.lazy_pages,
                       o.manage_cgroups_mode);
  r.images_dir_fd = images_fd;
  r.work_dir_fd = work_fd;
  r.empty_ns = parse_empty_ns(o.empty_ns);
  r.log_file = "restore.log";
  r.root = rootfs;
  r.rst_sibling = true;
  r.orphan_pts_master = spec.process && spec.process->terminal;
  for (auto& m : external_mounts(spec)) {
    std::string src = m.source.empty() || m.source[0] == '/' ? m.source : bundle + "/" + m.source;
    r.ext_mounts.push_back({m.destination, src});
  }
  return r;
}

// CRIU mounts on the mountpoints it recorded but makes none: an engine's own rootfs (a fresh
// overlay of the image) lacks those the container's create added ("/etc/hosts"). Make them as
// create does (and runc's restore), except below tmpfs mounts, whose content CRIU restores, and
// for cgroup mounts, which appear with /sys.
void make_mountpoints(const oci::Spec& spec, const std::string& bundle, const std::string& rootfs) {
  std::vector<std::string> tmpfs;
  for (auto& m : spec.mounts)
    if (m.type == "tmpfs") tmpfs.push_back(clean_path(m.destination));
  auto below_tmpfs = [&](const std::string& dest) {
    for (auto& t : tmpfs)
      if (dest.rfind(t == "/" ? t : t + "/", 0) == 0 && dest != t) return true;
    return false;
  };
  UniqueFd root = open_or_throw(rootfs, O_PATH | O_DIRECTORY);
  for (auto& m : spec.mounts) {
    std::string dest = clean_path(m.destination);
    if (m.type == "cgroup" || below_tmpfs(dest)) continue;
    Create kind = Create::Dir;
    if (parse_mount_options(m.options).bind()) {
      std::string src = m.source.empty() || m.source[0] == '/' ? m.source : bundle + "/" + m.source;
      struct stat st;
      if (::stat(src.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) kind = Create::File;
    }
    open_in_root(root.get(), dest, kind);
  }
}

// The init's stdio were its caller's at dump time (pipes of a shim or conmon): hand it ours now.
// criu looks inherit_fd numbers up in its own table, where 0-2 are its own stdio, so it gets
// copies of ours above them; the copies must stay open until the restore is done.
std::vector<UniqueFd> inherit_stdio(const CheckpointMeta& meta, checkpoint::RestoreOptions& r) {
  std::vector<UniqueFd> copies;
  for (int fd = 0; fd < 3 && fd < static_cast<int>(meta.stdio.size()); ++fd) {
    if (meta.stdio[fd].rfind("pipe:", 0) != 0 && meta.stdio[fd].rfind("socket:", 0) != 0) continue;
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) throw_errno("duplicate fd " + std::to_string(fd) + " for criu's inherit_fd `" + meta.stdio[fd] + "`");
    copies.emplace_back(copy);
    r.inherit_fds.push_back({meta.stdio[fd], copy});
  }
  return copies;
}

void warn_restoring_eagerly(const std::exception& e) {
  std::cerr << "cryo restore: restoring memory eagerly, the lazy-pages daemon did not start: " << e.what() << "\n";
}

// Restores lazily unless asked not to: criu restore maps the memory empty and returns, and a
// `criu lazy-pages` daemon of this restore's own fills it (first-touched pages first). An explicit
// --lazy-pages keeps runc's meaning (the caller runs the daemon); CRYO_LAZY_RESTORE=0 turns it off.
std::optional<checkpoint::LazyPagesDaemon> start_lazy_pages(const RestoreOptions& o,
                                                            const checkpoint::CriuCapabilities& caps,
                                                            const checkpoint::CriuClient& criu,
                                                            const std::string& image, const std::string& work_dir) {
  const char* env = std::getenv("CRYO_LAZY_RESTORE");
  if (o.lazy_pages || !caps.features.lazy_pages || (env && std::string(env) == "0")) return std::nullopt;
  try {
    checkpoint::LazyPagesOptions lo;
    lo.binary = criu.binary();
    lo.kerndat = criu.kerndat();
    lo.images_dir = image;
    lo.work_dir = real_path(work_dir);
    return checkpoint::LazyPagesDaemon::start(lo);
  } catch (const checkpoint::CriuError& e) {
    warn_restoring_eagerly(e);
    return std::nullopt;
  }
}

}  // namespace

std::string layer_store_root(const GlobalOptions& g) {
  const char* env = std::getenv("CRYO_LAYER_STORE");
  return env && *env ? env : g.root + "/layers";
}

int container_restore(const GlobalOptions& g, const RestoreOptions& o) {
  StateStore store(g.root);
  std::string image = real_path(o.image_path);
  CheckpointMeta meta = read_checkpoint_meta(image);
  std::string bundle = real_path(o.bundle);
  oci::Spec spec = oci::load_spec(bundle);
  require_own_mount_namespace(spec, "cannot restore `" + o.id + "` from " + bundle + "/config.json");
  std::string rootfs = spec.root_path[0] == '/' ? spec.root_path : bundle + "/" + spec.root_path;
  checkpoint::CriuClient criu({g.criu, {}, -1, -1, -1, criu_tools_dir(), true});
  auto caps = criu_capabilities(criu, g.root);

  ContainerLock lock = store.create(o.id);
  RestoreRollback rollback{store, o.id};
  ContainerRecord rec;
  rec.id = o.id;
  rec.bundle = bundle;
  rec.created = rfc3339_now();
  rec.cgroup_path = default_cgroup_path(spec, o.id);
  rec.config = nlohmann::json::parse(read_file(bundle + "/config.json"));
  rec.annotations = spec.annotations;

  // The lazy-pages daemon starts first: it comes up while the root and cgroup are prepared.
  std::string work_path = o.work_path.empty() ? store.dir(o.id) : o.work_path;
  make_dirs(work_path, 0700);
  std::optional<checkpoint::LazyPagesDaemon> lazy = start_lazy_pages(o, caps, criu, image, work_path);

  make_dirs(rootfs, 0755);
  if (meta.overlay && path_exists(image + "/" + kRootfsDiff) && empty_dir(rootfs)) {
    rec.owned_overlay_dir = store.dir(o.id) + "/overlay";
    rollback.overlay_dir = rec.owned_overlay_dir;
    mount_restored_root(g, image, meta, rec.owned_overlay_dir, upper_size_bytes(spec), rootfs);
    rec.owned_rootfs_mount = rollback.mounted_root = rootfs;
  }
  rec.rootfs = real_path(rootfs);
  make_mountpoints(spec, bundle, rec.rootfs);

  rollback.cgroup = cgroup_for(rec.cgroup_path);
  rollback.cgroup->create();
  if (spec.linux.resources) rollback.cgroup->set(*spec.linux.resources);

  UniqueFd images = open_or_throw(image, O_RDONLY | O_DIRECTORY);
  UniqueFd work = open_or_throw(work_path, O_RDONLY | O_DIRECTORY);
  auto ropts = restore_options(o, spec, bundle, rec.rootfs, images.get(), work.get());
  std::vector<UniqueFd> stdio_copies = inherit_stdio(meta, ropts);
  if (lazy) {
    try {
      lazy->wait_ready();
      ropts.lazy_pages = true;
    } catch (const checkpoint::CriuError& e) {
      warn_restoring_eagerly(e);
      lazy.reset();
    }
  }
  UniqueFd netns;
  if (meta.fresh_netns_lo_up) {
    // The bundle may name a network namespace to join (an engine's); otherwise a fresh one.
    std::string join;
    for (auto& ns : spec.linux.namespaces)
      if (ns.type == "network") join = ns.path;
    netns = join.empty() ? fresh_netns(*meta.fresh_netns_lo_up) : open_or_throw(join, O_RDONLY | O_CLOEXEC);
    if (!meta.netns_outside_images) {
      ropts.inherit_fds.push_back({kFreshNetnsKey, netns.get()});
    } else if (criu.kerndat()) {
      ropts.criu_netns_fd = netns.get();
    } else {
      throw Error("restore " + image + ": criu must run inside the new network namespace, and can only with cryo's "
                  "kernel-probe cache (/var/cache/cryo), which is unavailable (CRYO_CRIU_KDAT_CACHE=0, or it could "
                  "not be generated)");
    }
  }
  checkpoint::check_supported(ropts, caps);
  UniqueFd console;
  if (ropts.orphan_pts_master) {
    if (o.console_socket.empty()) throw Error("the checkpoint has a terminal: --console-socket is required");
    console = connect_console_socket(o.console_socket);
  }

  if (!o.detach) {
    block_all_signals();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  // criu forks the restored tree from itself: put ourselves (and so criu) in the new cgroup for
  // the restore, then step back out.
  auto home = own_cgroup_procs_files();
  rollback.cgroup->add_process(::getpid());
  pid_t pid;
  try {
    pid = criu.restore(ropts, [&](checkpoint::Notify& n) {
      if (n.script == "orphan-pts-master" && n.fd) send_fds(console.get(), "/dev/ptmx", {n.fd.get()});
    });
  } catch (...) {
    move_to(home);
    throw;
  }
  move_to(home);
  rollback.pid = pid;
  rec.pid = pid;
  rec.pid_start_time = process_start_time(pid);
  store.save(rec);
  write_pid_file(o.pid_file, pid);
  rollback.done = true;
  if (lazy) lazy->release();  // it fills the rest of the memory, then exits
  lock = ContainerLock();
  if (o.detach) return 0;
  int code = wait_forwarding_signals(pid);
  container_delete(g, o.id, true);
  return code;
}

}  // namespace cryo::runtime
