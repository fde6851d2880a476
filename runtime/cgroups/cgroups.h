// Control groups for one container, on cgroup v1, v2 or the hybrid layout, detected at run time.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oci/spec.h"
#include "runtime/syscalls.h"

namespace cryo::runtime {

enum class CgroupLayout { V1, V2, Hybrid };

struct CgroupMounts {
  CgroupLayout layout = CgroupLayout::V2;
  std::map<std::string, std::string> v1;  // controller (or "name=systemd") -> mount point
  std::string unified;                     // the v2 mount point, if any
};

// Reads the layout from /proc/self/mountinfo text.
CgroupMounts parse_cgroup_mounts(const std::string& mountinfo);
// The layout of this machine (read once per process).
const CgroupMounts& host_cgroup_mounts();

class Cgroup {
 public:
  virtual ~Cgroup() = default;
  virtual void create() = 0;
  virtual void add_process(pid_t pid) = 0;
  virtual void set(const oci::Resources& resources) = 0;
  virtual void freeze() = 0;
  virtual void thaw() = 0;
  virtual bool frozen() = 0;
  virtual std::vector<pid_t> pids() = 0;
  virtual void destroy() = 0;  // removes the (empty) cgroup directories
  virtual nlohmann::json stats() = 0;  // runc's `events --stats` "data" shape
  // Files a process writes its pid to, to join this cgroup (one per hierarchy).
  virtual std::vector<std::string> procs_files() = 0;
  virtual bool exists() = 0;
  // The directory whose freezer CRIU should use (freeze_cgroup).
  virtual std::string freezer_dir() = 0;
};

// `path` is the container's cgroupsPath (relative paths are taken from the hierarchy root).
std::unique_ptr<Cgroup> open_cgroup(const CgroupMounts& mounts, const std::string& path,
                                    std::shared_ptr<Syscalls> sys);

// Helpers shared by the v1 and v2 implementations.
std::vector<pid_t> parse_pids(const std::string& procs);
std::string normalize_cgroup_path(const std::string& path);
// rmdir of a cgroup directory; exiting tasks leave a cgroup a little after they are reaped, so
// EBUSY is retried for about a second.
void remove_cgroup_dir(Syscalls& sys, const std::string& path);
// Device rules runc allows in every container besides the configured ones.
std::vector<oci::DeviceRule> default_device_rules();

}  // namespace cryo::runtime
