// What the lifecycle operations share: a loaded container with its cgroup and live status.
#pragma once

#include <memory>

#include "runtime/cgroups/cgroups.h"
#include "runtime/container.h"
#include "runtime/state_store.h"

namespace cryo::runtime {

struct LoadedContainer {
  ContainerRecord record;
  oci::Spec spec;
  std::unique_ptr<Cgroup> cgroup;
  ContainerLock lock;

  oci::Status status(const StateStore& store) const;
  bool init_alive() const;
  oci::State oci_state(const StateStore& store) const;
};

LoadedContainer load_container(const StateStore& store, const std::string& id);
std::unique_ptr<Cgroup> cgroup_for(const std::string& cgroup_path);
std::string default_cgroup_path(const oci::Spec& spec, const std::string& id);
// Kills everything in the container and waits until its cgroup is empty.
void kill_all_and_wait(LoadedContainer& c);
// Removes what a container left on the host (cgroup, state) and runs poststop hooks.
void destroy_container(const StateStore& store, LoadedContainer& c);
void write_pid_file(const std::string& path, pid_t pid);

}  // namespace cryo::runtime
