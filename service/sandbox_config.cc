#include "service/sandbox_config.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include "oci/spec.h"
#include "runtime/container.h"
#include "runtime/seccomp_image.h"

namespace cryo::service {

using nlohmann::json;

namespace {

// Docker's default capability set: enough for package managers and chown, nothing that
// reaches the host (no SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ...).
const std::vector<std::string> kCapabilities = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",     "CAP_FOWNER",           "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",     "CAP_SETFCAP",          "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

constexpr uint64_t kCpuPeriod = 100000;  // µs; quota = cpus × period

constexpr uint64_t kSandboxNofile = 4096;  // RLIMIT_NOFILE of the sandbox's processes

constexpr uint64_t kCloneNewUser = 0x10000000;  // CLONE_NEWUSER

// The default seccomp profile, in the spirit of Docker's: everything is allowed except system
// calls that reach kernel-global state or widen the attack surface without a use in a sandbox.
// They fail with EPERM, as if the capability were missing. A new user namespace (which would hand
// the sandbox a full capability set over its own namespaces) is refused through unshare and
// clone; clone3 answers ENOSYS so that the C library falls back to clone, whose flags a filter
// can inspect.
json default_seccomp() {
  json deny = {// keyrings are not namespaced
               "add_key", "keyctl", "request_key",
               // kernel code, modules, reboots
               "bpf", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
               "reboot", "swapon", "swapoff", "acct", "lookup_dcookie", "nfsservctl", "uselib",
               // host-wide observation and file handles that bypass the mount tree
               "perf_event_open", "open_by_handle_at", "name_to_handle_at", "syslog", "quotactl",
               "quotactl_fd", "kcmp",
               // clocks are global
               "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
               // mounts (the capability is missing anyway; the new mount API too)
               "mount", "umount", "umount2", "pivot_root", "fsopen", "fsmount", "fspick", "fsconfig",
               "move_mount", "open_tree", "mount_setattr",
               // I/O ports, legacy and unusual interfaces
               "iopl", "ioperm", "vm86", "vm86old", "userfaultfd", "io_uring_setup", "io_uring_enter",
               "io_uring_register"};
  json rules = json::array();
  rules.push_back({{"names", deny}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}});
  for (auto* name : {"unshare", "clone"})
    rules.push_back({{"names", json::array({name})},
                     {"action", "SCMP_ACT_ERRNO"},
                     {"errnoRet", 1},
                     {"args", json::array({{{"index", 0}, {"value", kCloneNewUser}, {"valueTwo", kCloneNewUser},
                                {"op", "SCMP_CMP_MASKED_EQ"}}})}});
  rules.push_back({{"names", json::array({"clone3"})}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}});  // ENOSYS
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", rules}};
}

}  // namespace

void validate_spec(const SandboxSpec& spec) {
  if (spec.limits.memory_bytes < 0) throw BadRequest("limits.memory_bytes must not be negative");
  if (spec.limits.memory_bytes > 0 && spec.limits.memory_bytes < (6 << 20))
    throw BadRequest("limits.memory_bytes must be at least 6 MiB");
  if (spec.limits.pids < 0) throw BadRequest("limits.pids must not be negative");
  if (spec.limits.cpus < 0 || !std::isfinite(spec.limits.cpus)) throw BadRequest("limits.cpus must not be negative");
  if (spec.limits.cpus > 0 && spec.limits.cpus < 0.01) throw BadRequest("limits.cpus must be at least 0.01");
  if (spec.limits.disk_bytes < 0) throw BadRequest("limits.disk_bytes must not be negative");
  if (spec.limits.disk_bytes > 0 && spec.limits.disk_bytes < (1 << 20))
    throw BadRequest("limits.disk_bytes must be at least 1 MiB");
  if (spec.cwd.empty() || spec.cwd[0] != '/') throw BadRequest("cwd `" + spec.cwd + "` must be absolute");
  for (auto& [k, v] : spec.env)
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos)
      throw BadRequest("env key `" + k + "` is invalid");
}

// The default profile with each supervised call sent to the sentry. Calls the profile already
// restricts stay restricted: supervision never loosens it. Without the sentry (a restored
// process, whose listener CRIU cannot carry over) a call does what its rule says, unaudited.
static void add_supervision(json& config, const std::vector<sentry::SupervisionRule>& rules, const std::string& socket) {
  json& seccomp = config["linux"]["seccomp"];
  json fallback = json::object();
  for (auto& r : rules) {
    for (auto& existing : seccomp["syscalls"])
      for (auto& name : existing["names"])
        if (name == r.syscall)
          throw BadRequest("supervise: `" + r.syscall + "` is already restricted by the sandbox's seccomp profile");
    seccomp["syscalls"].push_back({{"names", json::array({r.syscall})}, {"action", "SCMP_ACT_NOTIFY"}});
    fallback[r.syscall] = r.action == "deny" ? "errno:" + std::to_string(r.error) : "allow";
  }
  seccomp["listenerPath"] = socket;
  config["annotations"][runtime::kNotifyFallback] = fallback.dump();
}

void set_supervisor_socket(json& config, const std::string& supervisor_socket) {
  json& seccomp = config["linux"]["seccomp"];
  if (seccomp.is_object() && seccomp.contains("listenerPath")) seccomp["listenerPath"] = supervisor_socket;
}

json make_sandbox_config(const std::string& sandbox_id, const SandboxSpec& spec, const std::string& supervisor_socket) {
  json base = oci::default_spec_json(false);  // masked/read-only paths and mounts as `cryo spec`

  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "HOME=/root", "LANG=C.UTF-8", "TERM=xterm"};
  auto set_env = [&](const std::string& kv) {
    std::string prefix = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    env.push_back(kv);
  };
  // An imported image's own environment (its PATH first of all) overrides the defaults.
  if (spec.image_info)
    for (auto& kv : spec.image_info->env)
      if (kv.find('=') != std::string::npos && kv.find('=') > 0) set_env(kv);
  for (auto& [k, v] : spec.env) {
    std::string prefix = k + "=";
    std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    env.push_back(prefix + v);
  }
  json caps = kCapabilities;
  // Open files: a fixed sandbox limit rather than whatever cryod inherited (never above cryod's
  // own hard limit, which cannot be raised without CAP_SYS_RESOURCE).
  struct rlimit host_nofile {};
  uint64_t nofile = kSandboxNofile;
  if (::getrlimit(RLIMIT_NOFILE, &host_nofile) == 0 && host_nofile.rlim_max != RLIM_INFINITY)
    nofile = std::min<uint64_t>(nofile, host_nofile.rlim_max);
  json process = {{"terminal", false},
                  {"user", {{"uid", 0}, {"gid", 0}}},
                  {"args", {kSandboxInit}},
                  {"env", env},
                  {"cwd", "/"},
                  {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
                  {"noNewPrivileges", true},
                  {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"soft", nofile}, {"hard", nofile}}})}};

  json mounts = base["mounts"];
  // python3, pip and the rest of the host's userland, read-only. rbind keeps submounts. Only the
  // default image gets it: an imported image brings its own userland.
  if (!spec.image_info)
    mounts.push_back({{"destination", "/usr"},
                    {"type", "bind"},
                    {"source", "/usr"},
                    {"options", {"rbind", "ro", "nosuid", "nodev"}}});

  json namespaces = json::array();
  for (auto* ns : {"pid", "ipc", "uts", "mount", "cgroup"}) namespaces.push_back({{"type", ns}});
  // No network by default: a fresh namespace that holds only lo.
  if (!spec.network) namespaces.push_back({{"type", "network"}});

  json resources = {{"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  if (spec.limits.memory_bytes > 0) resources["memory"] = {{"limit", spec.limits.memory_bytes}};
  if (spec.limits.pids > 0) resources["pids"] = {{"limit", spec.limits.pids}};
  if (spec.limits.cpus > 0)
    resources["cpu"] = {{"quota", static_cast<int64_t>(std::llround(spec.limits.cpus * kCpuPeriod))},
                        {"period", kCpuPeriod}};

  json linux = base["linux"];
  linux["namespaces"] = namespaces;
  linux["resources"] = resources;
  linux["seccomp"] = default_seccomp();

  json config = {{"ociVersion", base["ociVersion"]},
          {"process", process},
          {"root", {{"path", "rootfs"}, {"readonly", false}}},
          {"hostname", sandbox_id},
          {"mounts", mounts},
          {"linux", linux},
          {"annotations",
           {{"org.cryo.sandbox", sandbox_id},
            // The engine mounts a fresh sandbox's root itself; the annotation rides along in the
            // config a snapshot keeps, so cryo's restore gives every clone the same limit.
            {runtime::kUpperSizeAnnotation, std::to_string(writable_layer_bytes(spec.limits))}}}};
  if (!spec.supervise.empty()) add_supervision(config, spec.supervise, supervisor_socket);
  return config;
}

}  // namespace cryo::service
