// cgroup v2: one directory in the unified tree, controllers enabled down from the root.
#pragma once

#include "runtime/cgroups/cgroups.h"

namespace cryo::runtime {

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string path, std::shared_ptr<Syscalls> sys) : path_(std::move(path)), sys_(std::move(sys)) {}
  void create() override;
  void add_process(pid_t pid) override;
  void set(const oci::Resources& r) override;
  void freeze() override;
  void thaw() override;
  bool frozen() override;
  std::vector<pid_t> pids() override;
  void destroy() override;
  nlohmann::json stats() override;
  std::vector<std::string> procs_files() override { return {path_ + "/cgroup.procs"}; }
  bool exists() override { return sys_->is_dir(path_); }
  std::string freezer_dir() override { return path_; }

 private:
  void write(const std::string& file, const std::string& value);
  void enable_controllers();
  std::string path_;
  std::shared_ptr<Syscalls> sys_;
};

// cpu.shares (2..262144) -> cpu.weight (1..10000), the conversion runc and crun use.
uint64_t shares_to_weight(uint64_t shares);

}  // namespace cryo::runtime
