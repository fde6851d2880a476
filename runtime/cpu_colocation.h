// Puts CRIU and the dumped tasks on one CPU for the frozen window.
//
// CRIU and its parasite, which runs inside the dumped task, hand each other every MiB of pages
// (256 round trips for 256 MiB). On a VM each handover to another vCPU that went idle costs an
// interrupt and a VM exit: on two vCPUs the page phase took 36 ms against 20 ms on one (with
// cryo's page sink draining CRIU's socket from the other CPU; 24 ms with it on the same one). The tasks are frozen all the while and get their own affinity back before they thaw;
// CRIU does not record affinity, so neither the container nor its clones see the change. Should
// cryo die in between, the saved masks (serialize()) let the next cryo command put them back.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace cryo::runtime {

class CpuColocation {
 public:
  // Pins every thread of `tasks` (process ids) and the `helpers` (thread ids) to one CPU that all
  // of them may use. Does nothing when there is no such CPU or a mask cannot be read.
  CpuColocation(const std::vector<pid_t>& tasks, const std::vector<pid_t>& helpers);
  CpuColocation(const CpuColocation&) = delete;
  CpuColocation& operator=(const CpuColocation&) = delete;
  ~CpuColocation() { release(); }

  // Gives the tasks their own masks back (not the helpers: they are cryo's). Idempotent.
  void release();
  bool active() const { return !saved_.empty(); }
  int cpu() const { return cpu_; }
  // "tid cpu,cpu,...;" per task, for restore_affinities().
  std::string serialize() const;

 private:
  int cpu_ = -1;
  std::vector<std::pair<pid_t, cpu_set_t>> saved_;
};

// Puts back the masks serialize() wrote; tasks that are gone are skipped.
void restore_affinities(const std::string& serialized);

}  // namespace cryo::runtime
