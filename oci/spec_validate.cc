#include "oci/spec_validate.h"

#include <set>

namespace cryo::oci {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& field, const std::string& why) {
  throw SpecError(source + ": " + field + ": " + why);
}

std::string at(const std::string& base, const std::string& key) { return base.empty() ? key : base + "." + key; }
std::string idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

bool is_absolute(const std::string& p) { return !p.empty() && p[0] == '/'; }

const std::set<std::string> kActions = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                        "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",
                                        "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"};
const std::set<std::string> kOps = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                    "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
const std::set<std::string> kSeccompFlags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                             "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                             "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
const std::set<std::string> kPropagation = {"", "private", "rprivate", "slave", "rslave", "shared",
                                            "rshared", "unbindable", "runbindable"};

void validate_capabilities(const Capabilities& caps, const std::string& source, const std::string& base) {
  auto check = [&](const std::vector<std::string>& set, const char* name) {
    for (size_t i = 0; i < set.size(); ++i)
      if (!capability_value(set[i])) fail(source, idx(at(base, name), i), "unknown capability \"" + set[i] + "\"");
  };
  check(caps.bounding, "bounding");
  check(caps.effective, "effective");
  check(caps.inheritable, "inheritable");
  check(caps.permitted, "permitted");
  check(caps.ambient, "ambient");
}

void validate_namespaces(const Spec& spec, const std::string& source) {
  std::set<std::string> seen;
  const auto& nss = spec.linux.namespaces;
  for (size_t i = 0; i < nss.size(); ++i) {
    std::string f = idx("linux.namespaces", i);
    if (!namespace_clone_flag(nss[i].type)) fail(source, f + ".type", "unknown namespace \"" + nss[i].type + "\"");
    if (!seen.insert(nss[i].type).second) fail(source, f + ".type", "namespace \"" + nss[i].type + "\" listed twice");
    if (!nss[i].path.empty() && !is_absolute(nss[i].path))
      fail(source, f + ".path", "must be an absolute path, got \"" + nss[i].path + "\"");
  }
  const Namespace* user = spec.linux.find_namespace("user");
  bool new_user = user && user->path.empty();
  if (!spec.linux.uid_mappings.empty() && !new_user)
    fail(source, "linux.uidMappings", "set, but there is no new user namespace in linux.namespaces");
  if (!spec.linux.gid_mappings.empty() && !new_user)
    fail(source, "linux.gidMappings", "set, but there is no new user namespace in linux.namespaces");
  if (new_user && spec.linux.uid_mappings.empty())
    fail(source, "linux.uidMappings", "required with a new user namespace");
  const Namespace* uts = spec.linux.find_namespace("uts");
  if (!spec.hostname.empty() && !uts) fail(source, "hostname", "set, but there is no uts namespace");
  if (!spec.domainname.empty() && !uts) fail(source, "domainname", "set, but there is no uts namespace");
}

// Without a mount namespace of its own the container shares the host's mount table: whatever was
// mounted for it would be mounted on the host, and stay there. runc makes such mounts anyway (and
// leaves them behind); cryo refuses every field that needs one.
void validate_shared_mount_table(const Spec& spec, const std::string& source) {
  if (spec.linux.find_namespace("mount")) return;
  const std::string needs = "needs a mount namespace, and linux.namespaces has no \"mount\": ";
  const std::string on_host = " in the host's mount table";
  for (size_t i = 0; i < spec.mounts.size(); ++i)
    fail(source, idx("mounts", i), needs + "`" + spec.mounts[i].destination + "` would be mounted" + on_host);
  const Linux& l = spec.linux;
  if (!l.masked_paths.empty()) fail(source, "linux.maskedPaths", needs + "each mask would be a mount" + on_host);
  if (!l.readonly_paths.empty())
    fail(source, "linux.readonlyPaths", needs + "each would be a read-only bind mount" + on_host);
  for (size_t i = 0; i < l.devices.size(); ++i)
    fail(source, idx("linux.devices", i),
         needs + "no /dev of the container's own: `" + l.devices[i].path + "` would stay in root.path on the host");
  if (spec.root_readonly) fail(source, "root.readonly", needs + "`/` would be remounted read-only" + on_host);
  if (!l.rootfs_propagation.empty())
    fail(source, "linux.rootfsPropagation", needs + "it would change the propagation of the host's mounts");
}

void validate_sysctl(const Spec& spec, const std::string& source) {
  for (auto& [key, value] : spec.linux.sysctl) {
    std::string f = "linux.sysctl." + key;
    if (key.empty() || key.find("..") != std::string::npos || key.find('/') != std::string::npos)
      fail(source, f, "not a valid sysctl name");
    bool net = key.rfind("net.", 0) == 0;
    bool ipc = key.rfind("kernel.msg", 0) == 0 || key.rfind("kernel.sem", 0) == 0 ||
               key.rfind("kernel.shm", 0) == 0 || key.rfind("fs.mqueue.", 0) == 0;
    bool uts = key == "kernel.hostname" || key == "kernel.domainname";
    if (net && !spec.linux.find_namespace("network")) fail(source, f, "needs a network namespace");
    else if (ipc && !spec.linux.find_namespace("ipc")) fail(source, f, "needs an ipc namespace");
    else if (uts) fail(source, f, "set the hostname/domainname fields instead");
    else if (!net && !ipc) fail(source, f, "not namespaced: it would change the host");
  }
}

void validate_seccomp(const Seccomp& s, const std::string& source) {
  const std::string base = "linux.seccomp";
  if (!kActions.count(s.default_action))
    fail(source, base + ".defaultAction", "unknown action \"" + s.default_action + "\"");
  for (size_t i = 0; i < s.flags.size(); ++i)
    if (!kSeccompFlags.count(s.flags[i])) fail(source, idx(base + ".flags", i), "unknown flag \"" + s.flags[i] + "\"");
  bool notify = s.default_action == "SCMP_ACT_NOTIFY";
  for (size_t i = 0; i < s.syscalls.size(); ++i) {
    const auto& r = s.syscalls[i];
    std::string f = idx(base + ".syscalls", i);
    if (r.names.empty()) fail(source, f + ".names", "must list at least one system call");
    if (!kActions.count(r.action)) fail(source, f + ".action", "unknown action \"" + r.action + "\"");
    notify = notify || r.action == "SCMP_ACT_NOTIFY";
    for (size_t j = 0; j < r.args.size(); ++j) {
      if (!kOps.count(r.args[j].op)) fail(source, idx(f + ".args", j) + ".op", "unknown operator \"" + r.args[j].op + "\"");
      if (r.args[j].index > 5) fail(source, idx(f + ".args", j) + ".index", "must be 0..5");
    }
  }
  if (s.default_action == "SCMP_ACT_NOTIFY")
    fail(source, base + ".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
  if (notify && s.listener_path.empty())
    fail(source, base + ".listenerPath", "required when an action is SCMP_ACT_NOTIFY");
  if (!s.listener_path.empty() && !is_absolute(s.listener_path))
    fail(source, base + ".listenerPath", "must be an absolute path");
}

void validate_linux(const Spec& spec, const std::string& source) {
  const Linux& l = spec.linux;
  validate_namespaces(spec, source);
  for (size_t i = 0; i < l.devices.size(); ++i) {
    const auto& d = l.devices[i];
    std::string f = idx("linux.devices", i);
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
      fail(source, f + ".type", "must be c, b, u or p, got \"" + d.type + "\"");
    if (!is_absolute(d.path)) fail(source, f + ".path", "must be an absolute path");
  }
  if (l.resources) {
    for (size_t i = 0; i < l.resources->devices.size(); ++i) {
      const auto& d = l.resources->devices[i];
      std::string f = idx("linux.resources.devices", i);
      if (d.type != "a" && d.type != "c" && d.type != "b") fail(source, f + ".type", "must be a, c or b");
      if (d.access.empty() || d.access.find_first_not_of("rwm") != std::string::npos)
        fail(source, f + ".access", "must be made of r, w and m");
    }
  }
  validate_sysctl(spec, source);
  for (auto& [clock, offset] : l.time_offsets) {
    if (clock != "monotonic" && clock != "boottime")
      fail(source, "linux.timeOffsets." + clock, "unknown clock: only monotonic and boottime can be offset");
  }
  if (!l.time_offsets.empty()) {
    const Namespace* time = l.find_namespace("time");
    if (!time || !time->path.empty())
      fail(source, "linux.timeOffsets", "needs a new time namespace in linux.namespaces (one without a path)");
  }
  if (l.seccomp) validate_seccomp(*l.seccomp, source);
  if (!kPropagation.count(l.rootfs_propagation))
    fail(source, "linux.rootfsPropagation", "unknown propagation \"" + l.rootfs_propagation + "\"");
  for (size_t i = 0; i < l.masked_paths.size(); ++i)
    if (!is_absolute(l.masked_paths[i])) fail(source, idx("linux.maskedPaths", i), "must be an absolute path");
  for (size_t i = 0; i < l.readonly_paths.size(); ++i)
    if (!is_absolute(l.readonly_paths[i])) fail(source, idx("linux.readonlyPaths", i), "must be an absolute path");
  if (!l.cgroups_path.empty() && l.cgroups_path.find("..") != std::string::npos)
    fail(source, "linux.cgroupsPath", "must not contain \"..\"");
  validate_shared_mount_table(spec, source);
}

}  // namespace

void validate_process(const Process& p, const std::string& source, const std::string& base) {
  if (p.args.empty()) fail(source, at(base, "args"), "must name the program to run");
  if (!is_absolute(p.cwd)) fail(source, at(base, "cwd"), "must be an absolute path, got \"" + p.cwd + "\"");
  for (size_t i = 0; i < p.env.size(); ++i)
    if (p.env[i].find('=') == std::string::npos) fail(source, idx(at(base, "env"), i), "must be KEY=VALUE");
  std::set<std::string> seen;
  for (size_t i = 0; i < p.rlimits.size(); ++i) {
    const auto& rl = p.rlimits[i];
    std::string f = idx(at(base, "rlimits"), i);
    if (!rlimit_resource(rl.type)) fail(source, f + ".type", "unknown rlimit \"" + rl.type + "\"");
    if (!seen.insert(rl.type).second) fail(source, f + ".type", "\"" + rl.type + "\" listed twice");
    if (rl.soft > rl.hard) fail(source, f + ".soft", "is above the hard limit");
  }
  if (p.capabilities) validate_capabilities(*p.capabilities, source, at(base, "capabilities"));
}

void validate_spec(const Spec& spec, const std::string& source) {
  if (spec.oci_version.rfind("1.", 0) != 0)
    fail(source, "ociVersion", "unsupported version \"" + spec.oci_version + "\" (supported: 1.0 to 1.2)");
  if (spec.root_path.empty()) fail(source, "root.path", "must not be empty");
  if (spec.process) validate_process(*spec.process, source, "process");
  for (size_t i = 0; i < spec.mounts.size(); ++i)
    if (spec.mounts[i].destination.empty()) fail(source, idx("mounts", i) + ".destination", "must not be empty");
  validate_linux(spec, source);
}

}  // namespace cryo::oci
