#include "service/sandbox_config.h"

#include <cmath>

#include "oci/spec.h"

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

}  // namespace

void validate_spec(const SandboxSpec& spec) {
  if (spec.limits.memory_bytes < 0) throw BadRequest("limits.memory_bytes must not be negative");
  if (spec.limits.memory_bytes > 0 && spec.limits.memory_bytes < (6 << 20))
    throw BadRequest("limits.memory_bytes must be at least 6 MiB");
  if (spec.limits.pids < 0) throw BadRequest("limits.pids must not be negative");
  if (spec.limits.cpus < 0 || !std::isfinite(spec.limits.cpus)) throw BadRequest("limits.cpus must not be negative");
  if (spec.limits.cpus > 0 && spec.limits.cpus < 0.01) throw BadRequest("limits.cpus must be at least 0.01");
  if (spec.cwd.empty() || spec.cwd[0] != '/') throw BadRequest("cwd `" + spec.cwd + "` must be absolute");
  for (auto& [k, v] : spec.env)
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos)
      throw BadRequest("env key `" + k + "` is invalid");
}

json make_sandbox_config(const std::string& sandbox_id, const SandboxSpec& spec) {
  json base = oci::default_spec_json(false);  // masked/read-only paths and mounts as `cryo spec`

  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "HOME=/root", "LANG=C.UTF-8", "TERM=xterm"};
  for (auto& [k, v] : spec.env) {
    std::string prefix = k + "=";
    std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    env.push_back(prefix + v);
  }
  json caps = kCapabilities;
  json process = {{"terminal", false},
                  {"user", {{"uid", 0}, {"gid", 0}}},
                  {"args", {kSandboxInit}},
                  {"env", env},
                  {"cwd", "/"},
                  {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
                  {"noNewPrivileges", true}};

  json mounts = base["mounts"];
  // python3, pip and the rest of the host's userland, read-only. rbind keeps submounts.
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

  return {{"ociVersion", base["ociVersion"]},
          {"process", process},
          {"root", {{"path", "rootfs"}, {"readonly", false}}},
          {"hostname", sandbox_id},
          {"mounts", mounts},
          {"linux", linux},
          {"annotations", {{"org.cryo.sandbox", sandbox_id}}}};
}

}  // namespace cryo::service
