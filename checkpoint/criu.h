// Client for CRIU's RPC service: each request runs a fresh `criu swrk <fd>` child that speaks
// protobuf messages (CRIU's rpc.proto) over a SOCK_SEQPACKET socketpair.
//
// Options are plain structs here; the protobuf types stay inside the library. Every failure throws
// CriuError whose message names the request (and notify step) and quotes CRIU's own log.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "checkpoint/kerndat_cache.h"

namespace cryo::checkpoint {

// A CRIU request failed, or criu could not be run or died.
class CriuError : public Error {
 public:
  explicit CriuError(const std::string& what, int cr_errno = 0) : Error(what), cr_errno_(cr_errno) {}
  // CRIU's cr_errno from the response (an errno value), 0 when it gave none.
  int cr_errno() const { return cr_errno_; }

 private:
  int cr_errno_;
};

struct CriuVersion {
  int major = 0;
  int minor = 0;
  int sublevel = 0;
  std::string gitid;  // empty for release builds

  bool at_least(int maj, int min, int sub = 0) const;
  std::string str() const;  // "4.2.1"
};

// Results of CRIU_REQ_TYPE__FEATURE_CHECK.
struct CriuFeatures {
  bool mem_track = false;    // dirty memory tracking (soft-dirty): pre-dump, incremental dumps
  bool lazy_pages = false;   // userfaultfd, for lazy restore
  bool pidfd_store = false;  // pidfd_open + pidfd_getfd, for PID reuse detection across pre-dumps
};

// How CRIU treats the tasks' cgroups (criu --manage-cgroups=MODE).
enum class CgroupMode { Ignore, None, Props, Soft, Full, Strict, Default };
enum class NetworkLock { Iptables, Nftables, Skip };
enum class PreDumpMode { Splice, VmRead };

struct ExternalMount {  // --ext-mount-map KEY:VALUE
  std::string key;
  std::string value;
};
struct InheritFd {  // --inherit-fd fd[N]:KEY; fd is a descriptor of this process (see RestoreOptions)
  std::string key;
  int fd = -1;
};
struct JoinNamespace {  // --join-ns NS:FILE[,EXTRA]
  std::string ns;       // "net", "ipc", "uts", "time", "user", "mnt"
  std::string ns_file;  // a path or "pid:N"
  std::string extra_opt;
};
struct CgroupRoot {  // --cgroup-root [CONTROLLER:]PATH
  std::string controller;  // empty: all controllers
  std::string path;
};
struct PageServer {
  std::string address;
  int port = 0;
  int fd = -1;  // an already connected socket of this process (dump only); address/port unused then
};

// Options that dump, pre-dump and restore share.
struct CommonOptions {
  uint32_t empty_ns = 0;  // namespaces dumped/restored without content; CRIU accepts CLONE_NEWNET only
  int images_dir_fd = -1;  // the image directory; CRIU opens it through /proc/<our pid>/fd
  std::string images_dir;  // used only when images_dir_fd < 0
  int work_dir_fd = -1;    // where CRIU keeps its log and scratch files; default: the images dir
  std::string log_file;    // a plain name in the work dir; default: "<request>.log"
  int log_level = 4;       // 4 = debug: failures must be diagnosable from the log

  bool tcp_established = false;
  bool ext_unix_sk = false;
  bool shell_job = false;
  bool file_locks = false;
  bool link_remap = false;
  bool orphan_pts_master = false;  // restore: CRIU hands the pty master over (notify orphan-pts-master)
  bool lazy_pages = false;
  bool notify_scripts = false;  // also forced on when a NotifyHandler is given

  std::optional<CgroupMode> manage_cgroups;  // nullopt: CRIU's default
  std::vector<CgroupRoot> cgroup_roots;
  std::optional<NetworkLock> network_lock;  // nullopt: CRIU's default (iptables)
  std::optional<PageServer> page_server;
  int status_fd = -1;  // CRIU writes a byte when ready (obsolete in favour of notify status-ready)

  std::vector<ExternalMount> ext_mounts;
  std::vector<std::string> external;  // "mnt[KEY]:VAL", "dev[MAJ/MIN]:VAL", "veth[IF]:OUT", ...
  std::vector<std::string> enable_fs;
  std::vector<std::string> skip_mnt;
  std::string lsm_profile;
  std::string lsm_mount_context;
  std::string config_file;  // CRIU config file applied over the RPC options
  // Run criu inside this network namespace (-1: ours). Tasks in criu's own network namespace are
  // dumped without it, and restored tasks stay in it: for a namespace that holds nothing but
  // loopback, this skips dumping and recreating it.
  int criu_netns_fd = -1;
};

struct DumpOptions : CommonOptions {
  pid_t pid = 0;  // root of the tree to dump; must be set (0 would dump this process)
  std::string parent_image;  // previous (pre-)dump, relative to the images dir
  bool leave_running = false;
  bool track_mem = false;  // needs CriuFeatures::mem_track
  bool auto_dedup = false;
  bool tcp_skip_in_flight = false;
  std::string freeze_cgroup;  // freeze through this cgroup instead of ptrace-stopping each task
  std::optional<PreDumpMode> pre_dump_mode;
  std::optional<uint32_t> ghost_limit;
};

struct RestoreOptions : CommonOptions {
  std::string root;  // root of the mount namespace to restore into
  // The restored root task becomes a child of this process (not of criu), so we can reap it.
  bool rst_sibling = false;
  // Descriptors handed to the restored tree: each fd is made available to criu at the same number
  // (0-2 mean criu's stdio, see CriuConfig).
  std::vector<InheritFd> inherit_fds;
  std::vector<JoinNamespace> join_ns;
  bool tcp_close = false;
};

// A NOTIFY callback from CRIU ("pre-dump", "post-dump", "network-lock", "network-unlock",
// "setup-namespaces", "post-setup-namespaces", "pre-restore", "post-restore", "pre-resume",
// "post-resume", "orphan-pts-master", "status-ready", "query-ext-files", ...).
struct Notify {
  std::string request;  // "dump", "restore", ...
  std::string script;
  pid_t pid = 0;        // root task (setup-namespaces, post-restore), else 0
  pid_t criu_pid = 0;   // the criu serving this request
  UniqueFd fd;          // received with the message (orphan-pts-master); move it out to keep it
  std::vector<std::string> reply_external;  // query-ext-files: externals to add
};
// Throwing from the handler makes CRIU abort the request; the error names the notify step.
using NotifyHandler = std::function<void(Notify&)>;

struct CriuConfig {
  // Path of the criu binary. Empty: /usr/local/sbin/criu when executable, else `criu` on PATH.
  std::string binary;
  // Kill criu and fail when a request takes longer (time spent in notify handlers excluded).
  // Zero: no limit.
  std::chrono::milliseconds timeout{0};
  // criu's stdio. -1: stdin is /dev/null, stdout and stderr are captured and quoted on failure.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // A directory put first on criu's PATH: cryo's own tools for the programs criu runs (see
  // tmpfs_tar.cc). Empty: criu's PATH is ours.
  std::string tools_dir;
  // Where CRIU cannot cache its kernel probe, cryo keeps the cache (see kerndat_cache.h).
  bool keep_kerndat_cache = false;
};

class CriuClient {
 public:
  explicit CriuClient(CriuConfig config = {});

  const std::string& binary() const { return binary_; }
  // The kernel-probe cache each criu child gets (empty unless keep_kerndat_cache found one).
  const KerndatMount& kerndat() const { return kerndat_; }

  CriuVersion version();
  // `criu check`: throws when CRIU finds the kernel unusable.
  void check();
  CriuFeatures feature_check();

  // Dumps the tree rooted at opts.pid. The log lands in the work dir.
  void dump(const DumpOptions& opts, const NotifyHandler& on_notify = {});
  // One incremental pre-dump (CRIU_REQ_TYPE__SINGLE_PRE_DUMP); needs dirty memory tracking.
  void pre_dump(const DumpOptions& opts, const NotifyHandler& on_notify = {});
  // Restores the images and returns the pid of the restored root task. With rst_sibling it is our
  // child and the caller must reap it.
  pid_t restore(const RestoreOptions& opts, const NotifyHandler& on_notify = {});

 private:
  CriuConfig config_;
  std::string binary_;
  KerndatMount kerndat_;
};

// Finds the criu binary as CriuClient does by default; throws when there is none.
std::string find_criu_binary();

// What the installed CRIU and kernel can do; probe once, then refuse options early.
struct CriuCapabilities {
  CriuVersion version;
  CriuFeatures features;
};

inline constexpr int kMinCriuMajor = 4;
inline constexpr int kMinCriuMinor = 2;

// Asks criu for its version and features. Throws CriuError when the version is below 4.2.
CriuCapabilities probe_capabilities(CriuClient& client);

enum class DumpKind { Dump, PreDump };
// Throws Error, before anything is frozen, when the options need something this CRIU/kernel lacks
// (pre-dump or incremental dump without dirty tracking, lazy pages without userfaultfd).
void check_supported(const DumpOptions& opts, const CriuCapabilities& caps,
                     DumpKind kind = DumpKind::Dump);
void check_supported(const RestoreOptions& opts, const CriuCapabilities& caps);

}  // namespace cryo::checkpoint
