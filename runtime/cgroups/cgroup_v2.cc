#include "runtime/cgroups/cgroup_v2.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "base/error.h"
#include "base/text.h"
#include "runtime/cgroups/device_filter.h"

namespace cryo::runtime {

uint64_t shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  return 1 + ((shares - 2) * 9999) / 262142;
}

void CgroupV2::write(const std::string& file, const std::string& value) {
  sys_->write_file(path_ + "/" + file, value);
}

void CgroupV2::enable_controllers() {
  // Every ancestor must delegate the controllers its children use.
  std::string root = path_;
  std::vector<std::string> ancestors;
  for (auto pos = root.find_last_of('/'); pos != std::string::npos && pos > 0; pos = root.find_last_of('/')) {
    root = root.substr(0, pos);
    if (!sys_->exists(root + "/cgroup.subtree_control")) break;
    ancestors.insert(ancestors.begin(), root);
  }
  for (auto& dir : ancestors) {
    auto available = sys_->read_file(dir + "/cgroup.controllers").value_or("");
    for (auto& c : words(available)) {
      try {
        sys_->write_file(dir + "/cgroup.subtree_control", "+" + c);
      } catch (const SysError&) {
        // A controller busy elsewhere (e.g. with processes in an inner node) is simply not limited.
      }
    }
  }
}

void CgroupV2::create() {
  std::string cur;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = path_.find('/', pos + 1);
    cur = path_.substr(0, pos);
    if (!sys_->is_dir(cur)) sys_->mkdir(cur, 0755);
  }
  enable_controllers();
}

void CgroupV2::add_process(pid_t pid) { write("cgroup.procs", std::to_string(pid)); }

void CgroupV2::set(const oci::Resources& r) {
  if (!r.devices.empty()) {
    std::vector<oci::DeviceRule> rules = r.devices;
    for (auto& d : default_device_rules()) rules.push_back(d);
    attach_device_filter(path_, rules);
  }
  if (r.memory) {
    const auto& m = *r.memory;
    if (m.limit && *m.limit != 0) write("memory.max", *m.limit < 0 ? "max" : std::to_string(*m.limit));
    // The spec's swap is memory+swap; v2 limits swap alone.
    if (m.swap && *m.swap != 0) {
      std::string v = "max";
      if (*m.swap > 0 && m.limit && *m.limit > 0) v = std::to_string(*m.swap - *m.limit);
      write("memory.swap.max", v);
    }
    if (m.reservation && *m.reservation != 0) write("memory.low", std::to_string(*m.reservation));
  }
  if (r.cpu) {
    const auto& c = *r.cpu;
    if (c.shares && *c.shares) write("cpu.weight", std::to_string(shares_to_weight(*c.shares)));
    if ((c.quota && *c.quota) || (c.period && *c.period)) {
      std::string quota = c.quota && *c.quota > 0 ? std::to_string(*c.quota) : "max";
      write("cpu.max", quota + " " + std::to_string(c.period && *c.period ? *c.period : 100000));
    }
    if (!c.cpus.empty()) write("cpuset.cpus", c.cpus);
    if (!c.mems.empty()) write("cpuset.mems", c.mems);
  }
  if (r.pids_limit && *r.pids_limit != 0) write("pids.max", *r.pids_limit < 0 ? "max" : std::to_string(*r.pids_limit));
  if (r.block_io && r.block_io->weight && *r.block_io->weight)
    write("io.weight", "default " + std::to_string(*r.block_io->weight));
  for (auto& [file, value] : r.unified) {
    if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
      throw Error("linux.resources.unified." + file + ": not a cgroup file name");
    write(file, value);
  }
}

void CgroupV2::freeze() {
  write("cgroup.freeze", "1");
  for (int i = 0; i < 2000; ++i) {
    if (frozen()) return;
    std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 100 : 1000));
  }
  thaw();
  throw Error("freeze cgroup `" + path_ + "`: tasks did not stop in time");
}

void CgroupV2::thaw() { write("cgroup.freeze", "0"); }

bool CgroupV2::frozen() {
  auto events = sys_->read_file(path_ + "/cgroup.events");
  return events && events->find("frozen 1") != std::string::npos;
}

std::vector<pid_t> CgroupV2::pids() {
  auto procs = sys_->read_file(path_ + "/cgroup.procs");
  return procs ? parse_pids(*procs) : std::vector<pid_t>{};
}

void CgroupV2::destroy() { remove_cgroup_dir(*sys_, path_); }

nlohmann::json CgroupV2::stats() {
  auto value = [&](const std::string& file, const std::string& key) -> uint64_t {
    auto text = sys_->read_file(path_ + "/" + file);
    if (!text) return 0;
    auto w = words(*text);
    auto number = [](const std::string& s) { return std::strtoull(s.c_str(), nullptr, 10); };
    if (key.empty()) return w.empty() ? 0 : number(w[0]);
    for (size_t i = 0; i + 1 < w.size(); i += 2)
      if (w[i] == key) return number(w[i + 1]);
    return 0;
  };
  return {{"cpu", {{"usage", {{"total", value("cpu.stat", "usage_usec") * 1000}}}}},
          {"memory", {{"usage", {{"usage", value("memory.current", "")}, {"limit", value("memory.max", "")}}}}},
          {"pids", {{"current", value("pids.current", "")}}}};
}

}  // namespace cryo::runtime
