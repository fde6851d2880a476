#include "runtime/cgroups/cgroups.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "base/error.h"

#include "base/file.h"
#include "base/text.h"
#include "runtime/cgroups/cgroup_v1.h"
#include "runtime/cgroups/cgroup_v2.h"
#include "runtime/rootfs/secure_path.h"

namespace cryo::runtime {

CgroupMounts parse_cgroup_mounts(const std::string& mountinfo) {
  CgroupMounts m;
  for (auto& line : split(mountinfo, '\n')) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = words(std::string_view(line).substr(0, dash)), right = words(std::string_view(line).substr(dash + 3));
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string &mountpoint = left[4], &fstype = right[0], &superopts = right[2];
    if (fstype == "cgroup2") {
      if (m.unified.empty()) m.unified = mountpoint;
    } else if (fstype == "cgroup") {
      for (auto& opt : split(superopts, ','))
        if (opt != "rw" && opt != "ro" && !m.v1.count(opt) && opt.find("release_agent") == std::string::npos &&
            opt != "clone_children" && opt != "noprefix" && opt != "xattr" && opt != "cpuset_v2_mode")
          m.v1[opt] = mountpoint;
    }
  }
  if (m.v1.empty()) m.layout = CgroupLayout::V2;
  else m.layout = m.unified.empty() ? CgroupLayout::V1 : CgroupLayout::Hybrid;
  return m;
}

const CgroupMounts& host_cgroup_mounts() {
  static const CgroupMounts mounts = parse_cgroup_mounts(read_file("/proc/self/mountinfo"));
  return mounts;
}

std::vector<pid_t> parse_pids(const std::string& procs) {
  std::vector<pid_t> out;
  for (auto& w : words(procs)) {
    char* end = nullptr;
    long pid = std::strtol(w.c_str(), &end, 10);
    if (end == w.c_str() || *end) break;  // as `>>` stops at the first non-number
    out.push_back(static_cast<pid_t>(pid));
  }
  return out;
}

std::string normalize_cgroup_path(const std::string& path) {
  // Cleaned as if rooted, like runc: "../" cannot climb out of the hierarchy.
  return clean_path(path).substr(1);
}

void remove_cgroup_dir(Syscalls& sys, const std::string& path) {
  for (int i = 0;; ++i) {
    try {
      sys.rmdir(path);
      return;
    } catch (const SysError& e) {
      if (e.code() != EBUSY || i >= 200) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

std::vector<oci::DeviceRule> default_device_rules() {
  auto chr = [](int64_t major, std::optional<int64_t> minor) {
    oci::DeviceRule r;
    r.allow = true;
    r.type = "c";
    r.major = major;
    r.minor = minor;
    r.access = "rwm";
    return r;
  };
  // null, zero, full, random, urandom, tty, console, ptmx, and the pts range.
  return {chr(1, 3), chr(1, 5), chr(1, 7), chr(1, 8), chr(1, 9), chr(5, 0), chr(5, 1), chr(5, 2),
          chr(136, std::nullopt)};
}

std::unique_ptr<Cgroup> open_cgroup(const CgroupMounts& mounts, const std::string& path,
                                    std::shared_ptr<Syscalls> sys) {
  std::string rel = normalize_cgroup_path(path);
  if (mounts.layout == CgroupLayout::V2) return std::make_unique<CgroupV2>(mounts.unified + "/" + rel, sys);
  return std::make_unique<CgroupV1>(mounts, rel, sys);
}

}  // namespace cryo::runtime
