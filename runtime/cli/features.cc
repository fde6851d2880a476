#include "runtime/cli/features.h"

#include <seccomp.h>
#include <sys/capability.h>

#include <cctype>

#include "base/file.h"
#include "runtime/cgroups/cgroups.h"

namespace cryo::cli {

nlohmann::json features_json() {
  nlohmann::json caps = nlohmann::json::array();
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
    char* name = cap_to_name(c);
    std::string n = name;
    cap_free(name);
    for (auto& ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    caps.push_back(n);
  }
  const auto& cg = runtime::host_cgroup_mounts();
  return {{"ociVersionMin", "1.0.0"},
          {"ociVersionMax", "1.2.0"},
          {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
          {"mountOptions", {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand",
                            "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime",
                            "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
                            "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
                            "unbindable", "lazytime", "nolazytime", "tmpcopyup"}},
          {"linux",
           {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
            {"capabilities", caps},
            {"cgroup", {{"v1", cg.layout != runtime::CgroupLayout::V2}, {"v2", !cg.unified.empty()},
                        {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
            {"seccomp",
             {{"enabled", true},
              {"actions", {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                           "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"}},
              {"operators", {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                             "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"}},
              {"archs", {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"}},
              {"knownFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                              "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}},
              {"supportedFlags", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}}}},
            {"apparmor", {{"enabled", path_exists("/sys/kernel/security/apparmor")}}},
            {"selinux", {{"enabled", path_exists("/sys/fs/selinux/enforce")}}},
            {"intelRdt", {{"enabled", false}}}}},
          {"annotations", {{"io.github.cryo.checkpoint.criu", "true"}}}};
}

}  // namespace cryo::cli
