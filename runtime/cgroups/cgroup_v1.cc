#include "runtime/cgroups/cgroup_v1.h"

#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "base/error.h"

namespace cryo::runtime {

std::string v1_device_rule(const oci::DeviceRule& r) {
  auto num = [](const std::optional<int64_t>& v) { return v && *v >= 0 ? std::to_string(*v) : "*"; };
  return r.type + " " + num(r.major) + ":" + num(r.minor) + " " + r.access;
}

CgroupV1::CgroupV1(const CgroupMounts& mounts, const std::string& rel, std::shared_ptr<Syscalls> sys)
    : mounts_(mounts), rel_(rel), sys_(std::move(sys)) {}

std::string CgroupV1::dir(const std::string& controller) const {
  auto it = mounts_.v1.find(controller);
  return it == mounts_.v1.end() ? "" : it->second + "/" + rel_;
}

std::vector<std::string> CgroupV1::dirs() const {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (auto& [controller, mountpoint] : mounts_.v1)
    if (seen.insert(mountpoint).second) out.push_back(mountpoint + "/" + rel_);
  if (!mounts_.unified.empty()) out.push_back(mounts_.unified + "/" + rel_);
  return out;
}

void CgroupV1::write(const std::string& controller, const std::string& file, const std::string& value) {
  std::string d = dir(controller);
  if (d.empty()) throw Error("cgroup controller `" + controller + "` is not mounted; cannot set " + file);
  sys_->write_file(d + "/" + file, value);
}

void CgroupV1::init_cpuset(const std::string& path) {
  // A new cpuset level starts empty and refuses tasks: inherit cpus and mems from the parent.
  std::string parent = path.substr(0, path.find_last_of('/'));
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    auto mine = sys_->read_file(path + "/" + file);
    if (mine && mine->find_first_not_of(" \n") != std::string::npos) continue;
    auto theirs = sys_->read_file(parent + "/" + file);
    if (theirs) sys_->write_file(path + "/" + file, *theirs);
  }
}

void CgroupV1::create() {
  for (auto& d : dirs()) {
    // mkdir -p, remembering which cpuset levels are new.
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = d.find('/', pos + 1);
      cur = d.substr(0, pos);
      if (sys_->is_dir(cur)) continue;
      sys_->mkdir(cur, 0755);
      auto cs = mounts_.v1.find("cpuset");
      if (cs != mounts_.v1.end() && cur.rfind(cs->second + "/", 0) == 0) init_cpuset(cur);
    }
  }
}

void CgroupV1::add_process(pid_t pid) {
  for (auto& f : procs_files()) sys_->write_file(f, std::to_string(pid));
}

std::vector<std::string> CgroupV1::procs_files() {
  std::vector<std::string> out;
  for (auto& d : dirs()) out.push_back(d + "/cgroup.procs");
  return out;
}

bool CgroupV1::exists() {
  std::string d = dir("freezer");
  if (d.empty()) d = dirs().front();
  return sys_->is_dir(d);
}

void CgroupV1::set_memory(const oci::MemoryResources& m) {
  if (m.limit && *m.limit != 0) {
    // memsw must stay >= limit: raise memsw first when growing.
    if (m.swap && *m.swap != 0) {
      try {
        write("memory", "memory.memsw.limit_in_bytes", std::to_string(*m.swap));
        write("memory", "memory.limit_in_bytes", std::to_string(*m.limit));
      } catch (const SysError&) {
        write("memory", "memory.limit_in_bytes", std::to_string(*m.limit));
        write("memory", "memory.memsw.limit_in_bytes", std::to_string(*m.swap));
      }
    } else {
      write("memory", "memory.limit_in_bytes", std::to_string(*m.limit));
    }
  }
  if (m.reservation && *m.reservation != 0)
    write("memory", "memory.soft_limit_in_bytes", std::to_string(*m.reservation));
  if (m.swappiness && *m.swappiness <= 100) write("memory", "memory.swappiness", std::to_string(*m.swappiness));
  if (m.disable_oom_killer && *m.disable_oom_killer) write("memory", "memory.oom_control", "1");
}

void CgroupV1::set_cpu(const oci::CpuResources& c) {
  if (c.shares && *c.shares) write("cpu", "cpu.shares", std::to_string(*c.shares));
  if (c.period && *c.period) write("cpu", "cpu.cfs_period_us", std::to_string(*c.period));
  if (c.quota && *c.quota) write("cpu", "cpu.cfs_quota_us", std::to_string(*c.quota));
  if (!c.cpus.empty()) write("cpuset", "cpuset.cpus", c.cpus);
  if (!c.mems.empty()) write("cpuset", "cpuset.mems", c.mems);
}

void CgroupV1::set_blkio(const oci::BlockIoResources& b) {
  if (b.weight && *b.weight) write("blkio", "blkio.weight", std::to_string(*b.weight));
  for (auto& d : b.weight_device)
    if (d.weight) write("blkio", "blkio.weight_device", std::to_string(d.major) + ":" + std::to_string(d.minor) + " " + std::to_string(*d.weight));
  auto throttle = [&](const std::vector<oci::ThrottleDevice>& devs, const char* file) {
    for (auto& d : devs)
      write("blkio", file, std::to_string(d.major) + ":" + std::to_string(d.minor) + " " + std::to_string(d.rate));
  };
  throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device");
  throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device");
  throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device");
  throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device");
}

void CgroupV1::set_devices(const std::vector<oci::DeviceRule>& rules) {
  if (dir("devices").empty()) return;
  for (auto& r : rules) write("devices", r.allow ? "devices.allow" : "devices.deny", v1_device_rule(r));
}

void CgroupV1::set(const oci::Resources& r) {
  if (!r.devices.empty()) {
    std::vector<oci::DeviceRule> rules = r.devices;
    for (auto& d : default_device_rules()) rules.push_back(d);
    set_devices(rules);
  }
  if (r.memory) set_memory(*r.memory);
  if (r.cpu) set_cpu(*r.cpu);
  if (r.pids_limit && *r.pids_limit != 0)
    write("pids", "pids.max", *r.pids_limit < 0 ? "max" : std::to_string(*r.pids_limit));
  if (r.block_io) set_blkio(*r.block_io);
  if (!r.unified.empty()) throw Error("linux.resources.unified needs cgroup v2 controllers; this host uses cgroup v1 for them");
}

void CgroupV1::freeze() {
  write("freezer", "freezer.state", "FROZEN");
  // The kernel may report FREEZING for a while; wait until every task is stopped.
  for (int i = 0; i < 2000; ++i) {
    if (frozen()) return;
    if (i % 50 == 49) write("freezer", "freezer.state", "FROZEN");
    std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 100 : 1000));
  }
  thaw();
  throw Error("freeze cgroup `" + dir("freezer") + "`: tasks did not stop in time");
}

void CgroupV1::thaw() { write("freezer", "freezer.state", "THAWED"); }

bool CgroupV1::frozen() {
  std::string d = dir("freezer");
  if (d.empty()) return false;
  auto state = sys_->read_file(d + "/freezer.state");
  return state && state->rfind("FROZEN", 0) == 0;
}

std::vector<pid_t> CgroupV1::pids() {
  for (const char* c : {"pids", "freezer", "memory", "devices"}) {
    std::string d = dir(c);
    if (d.empty()) continue;
    auto procs = sys_->read_file(d + "/cgroup.procs");
    return procs ? parse_pids(*procs) : std::vector<pid_t>{};
  }
  return {};
}

void CgroupV1::destroy() {
  for (auto& d : dirs()) remove_cgroup_dir(*sys_, d);
}

nlohmann::json CgroupV1::stats() {
  auto num = [&](const char* c, const char* file) -> uint64_t {
    std::string d = dir(c);
    if (d.empty()) return 0;
    auto v = sys_->read_file(d + "/" + file);
    try {
      return v ? std::stoull(*v) : 0;
    } catch (...) {
      return 0;
    }
  };
  return {{"cpu", {{"usage", {{"total", num("cpuacct", "cpuacct.usage")}}}}},
          {"memory",
           {{"usage", {{"usage", num("memory", "memory.usage_in_bytes")},
                       {"max", num("memory", "memory.max_usage_in_bytes")},
                       {"limit", num("memory", "memory.limit_in_bytes")},
                       {"failcnt", num("memory", "memory.failcnt")}}}}},
          {"pids", {{"current", num("pids", "pids.current")}}}};
}

}  // namespace cryo::runtime
