// checkpoint: freeze → CRIU dump (optionally leaving the tree running) → rootfs diff → thaw.
// All CRIU interplay of the runtime goes through checkpoint/criu.h; the container-specific
// choices (external mounts, cgroups, what the image must hold) live here and in restore.
#include <fcntl.h>
#include <unistd.h>

#include "base/file.h"
#include "checkpoint/criu.h"
#include "fsimage/fsimage.h"
#include "runtime/checkpoint_image.h"
#include "runtime/container_internal.h"
#include "runtime/criu_options.h"

namespace cryo::runtime {
namespace {

std::vector<std::string> init_stdio(pid_t pid) {
  std::vector<std::string> out;
  for (int fd = 0; fd < 3; ++fd) {
    char buf[4096];
    std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    out.emplace_back(n > 0 ? std::string(buf, static_cast<size_t>(n)) : "");
  }
  return out;
}

checkpoint::DumpOptions dump_options(const CheckpointOptions& o, const LoadedContainer& c, int images_fd, int work_fd) {
  checkpoint::DumpOptions d;
  apply_common_options(d, o.tcp_established, o.ext_unix_sk, o.shell_job, o.file_locks, o.lazy_pages,
                       o.manage_cgroups_mode);
  d.images_dir_fd = images_fd;
  d.work_dir_fd = work_fd;
  d.log_file = "dump.log";
  d.pid = c.record.pid;
  d.leave_running = o.leave_running;
  d.tcp_skip_in_flight = o.tcp_skip_in_flight;
  d.link_remap = o.link_remap;
  d.auto_dedup = o.auto_dedup;
  d.parent_image = o.parent_path;
  d.freeze_cgroup = c.cgroup->freezer_dir();
  d.status_fd = o.status_fd;
  if (!o.page_server.empty()) d.page_server = parse_page_server(o.page_server);
  for (auto& m : external_mounts(c.spec)) d.ext_mounts.push_back({m.destination, m.destination});
  return d;
}

// Removes what this attempt wrote, so no partial image stays where a complete one is expected.
struct ImageRollback {
  std::string dir;
  bool created_dir = false;
  bool done = false;
  ~ImageRollback() {
    if (done) return;
    try {
      if (created_dir) {
        remove_tree(dir);
      } else {
        ::unlink((dir + "/" + kCheckpointMeta).c_str());
        ::unlink((dir + "/" + kRootfsDiff).c_str());
      }
    } catch (...) {
    }
  }
};

}  // namespace

void container_checkpoint(const GlobalOptions& g, const CheckpointOptions& o) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, o.id);
  oci::Status status = c.status(store);
  if (status != oci::Status::Running && status != oci::Status::Paused)
    throw Error("cannot checkpoint container `" + o.id + "`: it is " + oci::status_name(status));

  // Everything that can fail is checked before anything is frozen.
  checkpoint::CriuClient criu({g.criu});
  auto caps = criu_capabilities(criu, g.root);
  ImageRollback rollback{o.image_path};
  rollback.created_dir = make_dirs(o.image_path, 0700);
  UniqueFd images = open_or_throw(o.image_path, O_RDONLY | O_DIRECTORY);
  if (!o.work_path.empty()) make_dirs(o.work_path, 0700);
  UniqueFd work = o.work_path.empty() ? UniqueFd() : open_or_throw(o.work_path, O_RDONLY | O_DIRECTORY);
  checkpoint::DumpOptions dump = dump_options(o, c, images.get(), work.get());
  checkpoint::check_supported(dump, caps, o.pre_dump ? checkpoint::DumpKind::PreDump : checkpoint::DumpKind::Dump);

  CheckpointMeta meta;
  meta.container_id = o.id;
  meta.created = rfc3339_now();
  meta.config = c.record.config;
  meta.overlay = find_overlay(read_file("/proc/self/mountinfo"), c.record.rootfs);
  meta.stdio = init_stdio(c.record.pid);

  write_file_atomic(checkpoint_marker(store, o.id), std::to_string(::getpid()));
  struct MarkerGuard {
    std::string path;
    ~MarkerGuard() { ::unlink(path.c_str()); }
  } marker{checkpoint_marker(store, o.id)};

  if (o.pre_dump) {
    criu.pre_dump(dump);
    rollback.done = true;
    return;
  }
  // The tasks are still held by CRIU at post-dump: the filesystem diff taken then matches the
  // memory image exactly.
  criu.dump(dump, [&](checkpoint::Notify& n) {
    if (n.script == "post-dump" && meta.overlay)
      meta.diff_digest = fsimage::export_diff(meta.overlay->upper, o.image_path + "/" + kRootfsDiff).digest;
  });
  write_file_atomic(o.image_path + "/" + kCheckpointMeta, meta_to_json(meta).dump(2), 0600);
  rollback.done = true;
  if (!o.leave_running) {
    // CRIU killed the tree; the container is gone, as with runc.
    kill_all_and_wait(c);
    destroy_container(store, c);
  } else if (status == oci::Status::Paused && !c.cgroup->frozen()) {
    c.cgroup->freeze();  // a paused container stays paused
  }
}

}  // namespace cryo::runtime
