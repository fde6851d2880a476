#include "runtime/cpu_colocation.h"

#include <dirent.h>

#include <cstdlib>
#include <sstream>

namespace cryo::runtime {
namespace {

std::vector<pid_t> threads_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(std::atoi(e->d_name));
    ::closedir(d);
  }
  return out;
}

}  // namespace

CpuColocation::CpuColocation(const std::vector<pid_t>& tasks, const std::vector<pid_t>& helpers) {
  std::vector<std::pair<pid_t, cpu_set_t>> masks;
  cpu_set_t common;
  if (::sched_getaffinity(0, sizeof common, &common) != 0) return;
  for (pid_t pid : tasks) {
    for (pid_t tid : threads_of(pid)) {
      cpu_set_t mask;
      if (::sched_getaffinity(tid, sizeof mask, &mask) != 0) return;
      CPU_AND(&common, &common, &mask);
      masks.push_back({tid, mask});
    }
  }
  // The first CPU every one of them may use.
  int cpu = -1;
  for (int c = 0; c < CPU_SETSIZE && cpu < 0; ++c)
    if (CPU_ISSET(c, &common)) cpu = c;
  if (cpu < 0 || masks.empty()) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  cpu_ = cpu;
  for (auto& [tid, mask] : masks)
    if (::sched_setaffinity(tid, sizeof one, &one) == 0) saved_.push_back({tid, mask});
  for (pid_t tid : helpers) ::sched_setaffinity(tid, sizeof one, &one);
}

void CpuColocation::release() {
  for (auto& [tid, mask] : saved_) ::sched_setaffinity(tid, sizeof mask, &mask);
  saved_.clear();
}

std::string CpuColocation::serialize() const {
  std::string out;
  for (auto& [tid, mask] : saved_) {
    std::string cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (!CPU_ISSET(c, &mask)) continue;
      if (!cpus.empty()) cpus += ',';
      cpus += std::to_string(c);
    }
    out += std::to_string(tid);
    out += ' ';
    out += cpus;
    out += ';';
  }
  return out;
}

void restore_affinities(const std::string& serialized) {
  std::istringstream entries(serialized);
  for (std::string entry; std::getline(entries, entry, ';');) {
    std::istringstream fields(entry);
    pid_t tid = 0;
    std::string cpus;
    if (!(fields >> tid >> cpus) || tid <= 0) continue;
    cpu_set_t mask;
    CPU_ZERO(&mask);
    std::istringstream list(cpus);
    for (std::string c; std::getline(list, c, ',');)
      if (int n = std::atoi(c.c_str()); n >= 0 && n < CPU_SETSIZE) CPU_SET(n, &mask);
    if (CPU_COUNT(&mask) > 0) ::sched_setaffinity(tid, sizeof mask, &mask);
  }
}

}  // namespace cryo::runtime
