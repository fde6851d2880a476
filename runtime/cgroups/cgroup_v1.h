// cgroup v1: one directory per mounted hierarchy; on the hybrid layout also one in the v2 tree.
#pragma once

#include "runtime/cgroups/cgroups.h"

namespace cryo::runtime {

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(const CgroupMounts& mounts, const std::string& rel, std::shared_ptr<Syscalls> sys);
  void create() override;
  void add_process(pid_t pid) override;
  void set(const oci::Resources& r) override;
  void freeze() override;
  void thaw() override;
  bool frozen() override;
  std::vector<pid_t> pids() override;
  void destroy() override;
  nlohmann::json stats() override;
  std::vector<std::string> procs_files() override;
  bool exists() override;
  std::string freezer_dir() override { return dir("freezer"); }

 private:
  std::string dir(const std::string& controller) const;  // "" when not mounted
  void write(const std::string& controller, const std::string& file, const std::string& value);
  void set_memory(const oci::MemoryResources& m);
  void set_cpu(const oci::CpuResources& c);
  void set_blkio(const oci::BlockIoResources& b);
  void set_devices(const std::vector<oci::DeviceRule>& rules);
  void init_cpuset(const std::string& path);
  std::vector<std::string> dirs() const;  // every hierarchy's directory, deduplicated

  CgroupMounts mounts_;
  std::string rel_;
  std::shared_ptr<Syscalls> sys_;
};

// "c 1:3 rwm" as devices.allow/deny want it.
std::string v1_device_rule(const oci::DeviceRule& r);

}  // namespace cryo::runtime
