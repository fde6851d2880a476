// checkpoint: freeze → CRIU dump (optionally leaving the tree running) → rootfs diff → thaw.
// All CRIU interplay of the runtime goes through checkpoint/criu.h; the container-specific
// choices (external mounts, cgroups, what the image must hold) live here and in restore.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/file.h"
#include "base/proc.h"
#include "checkpoint/criu.h"
#include "checkpoint/page_sink.h"
#include "checkpoint/perf_hooks.h"
#include "checkpoint/precopy.h"
#include "fsimage/fsimage.h"
#include "runtime/checkpoint_image.h"
#include "runtime/process/launch.h"
#include "runtime/container_internal.h"
#include "runtime/cpu_colocation.h"
#include "runtime/criu_options.h"
#include "runtime/process/seccomp.h"
#include "runtime/seccomp_image.h"

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

std::chrono::milliseconds criu_timeout() {
  const char* env = std::getenv("CRYO_CRIU_TIMEOUT_S");
  return std::chrono::seconds(env && *env ? std::atoi(env) : 300);
}

bool any_task_stopped(const LoadedContainer& c) {
  for (pid_t p : c.cgroup->pids())
    if (char state = proc_state(p); state == 'T' || state == 't') return true;
  return false;
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
  // The freezer stops the whole tree at once. But a task already stopped by a signal (SIGSTOP,
  // Ctrl-Z) cannot be ptrace-seized while frozen: the kernel waits for it forever. Then CRIU
  // stops the tasks one by one instead, which copes with stopped tasks.
  if (!any_task_stopped(c)) d.freeze_cgroup = c.cgroup->freezer_dir();
  d.status_fd = o.status_fd;
  d.empty_ns = parse_empty_ns(o.empty_ns);
  if (!o.page_server.empty()) d.page_server = parse_page_server(o.page_server);
  for (auto& m : external_mounts(c.spec)) d.ext_mounts.push_back({m.destination, m.destination});
  return d;
}

// Private memory of the container's tasks (RssAnon + RssShmem): what CRIU will dump.
size_t resident_bytes(const LoadedContainer& c) {
  size_t total = 0;
  for (pid_t p : c.cgroup->pids())
    for (const char* key : {"RssAnon", "RssShmem"})
      if (auto kib = proc_status_field(p, key)) total += std::strtoull(kib->c_str(), nullptr, 10) << 10;
  return total;
}

size_t available_memory() {
  auto meminfo = read_file_if_exists("/proc/meminfo");
  auto at = meminfo ? meminfo->find("MemAvailable:") : std::string::npos;
  return at == std::string::npos ? 0 : std::strtoull(meminfo->c_str() + at + 13, nullptr, 10) << 10;
}

// Features on by default: off when `variable` is "0".
bool enabled_unless_zero(const char* variable) {
  const char* env = std::getenv(variable);
  return !(env && std::string(env) == "0");
}

// The buffer of our page sink for this dump, or 0 to let CRIU write its images itself.
// By default the pages stream over a socketpair into memory faulted in before the freeze, which
// keeps page-cache allocation and the image writes out of the frozen window (measured here,
// 256 MiB: see bench/checkpoint_bench.sh). The buffer doubles the memory the snapshot needs for
// a moment, so a container too big for half of the available memory is dumped the plain way.
// CRYO_DUMP_PAGE_SERVER=0 turns the sink off, =1 forces it.
size_t page_sink_reserve(const CheckpointOptions& o, const LoadedContainer& c) {
  if (!o.page_server.empty() || o.pre_dump || o.lazy_pages) return 0;
  const char* env = std::getenv("CRYO_DUMP_PAGE_SERVER");
  std::string mode = env ? env : "";
  if (mode == "0") return 0;
  size_t reserve = resident_bytes(c) + (16ul << 20);
  if (mode != "1" && reserve > available_memory() / 2) return 0;
  return reserve;
}

// A seccomp profile with user-notification rules: the programs of the dumped filters and of
// their replacement without the listener (see seccomp_image.h). Refused without a fallback.
struct NotifyRewrite {
  std::vector<sock_filter> from, to;
};

std::optional<NotifyRewrite> plan_notify_rewrite(const LoadedContainer& c, const std::string& id) {
  const auto& seccomp = c.spec.linux.seccomp;
  if (!seccomp || !has_notify_action(*seccomp)) return std::nullopt;
  auto it = c.spec.annotations.find(kNotifyFallback);
  if (it == c.spec.annotations.end())
    throw Error("cannot checkpoint container `" + id + "`: its seccomp profile sends system calls to a "
                "user-notification listener (linux.seccomp.listenerPath); CRIU cannot carry the listener over, "
                "so a restored container would get ENOSYS for them. The annotation " +
                std::string(kNotifyFallback) + " can say what they do instead (\"allow\" or \"errno:<n>\" per call)");
  oci::Seccomp fallback = with_notify_fallback(*seccomp, parse_notify_fallback(it->second));
  return NotifyRewrite{export_seccomp_bpf(*seccomp), export_seccomp_bpf(fallback)};
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

// What cryo does around CRIU's frozen window to keep it short (README, "Benchmarks"): the
// memory is copied while the container still runs and, once frozen, only what was written since
// is copied again (checkpoint/precopy.h); CRIU then shares one CPU with the tasks
// (cpu_colocation.h). CRYO_PRECOPY=0 and CRYO_DUMP_ONE_CPU=0 turn either off.
class FrozenWindow {
 public:
  FrozenWindow(LoadedContainer& c, checkpoint::PageSink* sink, std::string marker)
      : c_(c), sink_(sink), marker_(std::move(marker)) {
    if (sink_ && precopy_enabled())
      precopy_.emplace(checkpoint::precopy_tasks(c_.cgroup->pids(), c_.record.pid),
                       [this](size_t want, size_t& got) { return sink_->allocate(want, got); });
  }

  // CRIU's pre-dump step, where cryo freezes the container.
  void freeze(pid_t criu_pid) {
    c_.cgroup->freeze();
    if (precopy_) {
      precopy_->settle();
      sink_->use_shadow(&precopy_->shadow());
    }
    if (!colocate_enabled()) return;
    // CRIU only: the page sink drains CRIU's socket faster from the other CPU.
    colocation_.emplace(c_.cgroup->pids(), std::vector<pid_t>{criu_pid});
    // Should this cryo die, the next command puts the masks back (recover_interrupted_checkpoint).
    if (colocation_->active())
      write_file_replace(marker_, std::to_string(::getpid()) + "\n" + colocation_->serialize());
  }

  void thaw() {
    if (colocation_) colocation_->release();
    if (c_.cgroup->exists()) c_.cgroup->thaw();
    if (precopy_) precopy_->stop_tracking();  // after the thaw: unregistering walks the page tables
  }

  std::optional<CheckpointMeta::Precopy> record() const {
    if (!precopy_) return std::nullopt;
    return CheckpointMeta::Precopy{precopy_->tracked_tasks(), precopy_->copied_pages(), precopy_->recopied_pages(),
                                   sink_->pages_from_shadow()};
  }

 private:
  static bool precopy_enabled() { return enabled_unless_zero("CRYO_PRECOPY"); }
  static bool colocate_enabled() { return enabled_unless_zero("CRYO_DUMP_ONE_CPU"); }

  LoadedContainer& c_;
  checkpoint::PageSink* sink_;
  std::string marker_;
  std::optional<checkpoint::MemoryPrecopy> precopy_;
  std::optional<CpuColocation> colocation_;  // destroyed first: masks back before the guard thaws
};

}  // namespace

void container_checkpoint(const GlobalOptions& g, const CheckpointOptions& o) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, o.id);
  oci::Status status = c.status(store);
  if (status != oci::Status::Running && status != oci::Status::Paused)
    throw Error("cannot checkpoint container `" + o.id + "`: it is " + oci::status_name(status));

  // Everything that can fail is checked before anything is frozen.
  require_own_mount_namespace(c.spec, "cannot checkpoint container `" + o.id + "`");
  std::optional<NotifyRewrite> notify = plan_notify_rewrite(c, o.id);
  // A dump that hangs (a task that cannot be seized) is killed rather than left holding the
  // container; CRIU then releases the tasks.
  checkpoint::CriuClient criu({g.criu, criu_timeout(), -1, -1, -1, criu_tools_dir(), true});
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
  // A network namespace with nothing but loopback stays out of the images: criu runs inside it,
  // so CRIU neither dumps it nor walks its conntrack tables while the container is frozen. criu
  // can only start there with cryo's kernel-probe cache (its probes need a network). Without it,
  // or with CRYO_CRIU_IN_NETNS=0, the namespace is declared external instead.
  UniqueFd netns;
  if (auto net = simple_netns(c.spec, c.record.pid)) {
    meta.fresh_netns_lo_up = net->lo_up;
    const char* in_netns = std::getenv("CRYO_CRIU_IN_NETNS");
    meta.netns_outside_images = !(in_netns && std::string(in_netns) == "0") && criu.kerndat();
    netns = std::move(net->fd);
    if (meta.netns_outside_images) dump.criu_netns_fd = netns.get();
    else dump.external.push_back("net[" + std::to_string(net->inode) + "]:" + kFreshNetnsKey);
  }

  write_file_atomic(checkpoint_marker(store, o.id), std::to_string(::getpid()));
  // Whatever happens, a container that was running is left thawed (CRIU thaws on its own exits;
  // this covers a criu that was killed or timed out while the cgroup was frozen).
  struct CheckpointGuard {
    std::string marker;
    Cgroup& cgroup;
    bool was_running;
    ~CheckpointGuard() {
      try {
        if (was_running && cgroup.exists() && cgroup.frozen()) cgroup.thaw();
      } catch (...) {
      }
      ::unlink(marker.c_str());
    }
  } guard{checkpoint_marker(store, o.id), *c.cgroup, status == oci::Status::Running};

  if (o.pre_dump) {
    criu.pre_dump(dump);
    rollback.done = true;
    return;
  }
  std::future<checkpoint::PerfHooksHold> perf_hooks_opening = checkpoint::open_perf_hooks_hold();
  // Pages go to a page server of ours whose buffer is faulted in now, before the freeze; the
  // images are written after the thaw.
  std::optional<checkpoint::PageSink> sink;
  if (size_t reserve = page_sink_reserve(o, c)) {
    sink.emplace(reserve, checkpoint::PageSink::Transport::SocketPair);
    dump.page_server = checkpoint::PageServer{"", 0, sink->criu_fd()};
  }
  // The tasks are still held by CRIU at post-dump: the filesystem diff taken then matches the
  // memory image exactly. Its fsyncs wait until the container runs again.
  const std::string diff_path = o.image_path + "/" + kRootfsDiff;
  // CRIU polls a freezing cgroup every 100 ms, and a v1 freezer reports FREEZING for a moment
  // whenever the container runs several tasks: a sandbox paused 100 ms longer. So cryo freezes it
  // (polling finely) in CRIU's pre-dump step, just before CRIU would. CRIU then finds it frozen,
  // seizes the tasks (they stay stopped under ptrace while it thaws the cgroup), freezes it again
  // before letting go of them, and cryo thaws it as soon as CRIU returns.
  bool freeze_first = status == oci::Status::Running && !dump.freeze_cgroup.empty();
  std::optional<FrozenWindow> window;
  if (freeze_first) window.emplace(c, sink ? &*sink : nullptr, checkpoint_marker(store, o.id));
  if (sink) sink->start();  // after the pre-copy has taken its buffer
  checkpoint::PerfHooksHold perf_hooks = perf_hooks_opening.get();
  criu.dump(dump, [&](checkpoint::Notify& n) {
    if (n.script == "pre-dump" && window) window->freeze(n.criu_pid);
    if (n.script == "post-dump" && meta.overlay)
      meta.diff_digest = fsimage::export_diff(meta.overlay->upper, diff_path, fsimage::Durability::Later).digest;
  });
  if (window) window->thaw();
  if (!meta.diff_digest.empty()) fsimage::sync_file(diff_path);
  if (sink) {
    sink->write_images(images.get());
    if (window) meta.precopy = window->record();
    sink.reset();
  }
  if (notify) replace_seccomp_filters(o.image_path, notify->from, notify->to);
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
