// What the lifecycle operations share: a loaded container with its cgroup and live status.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

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
// Detaches the size-limited tmpfs a restore may have mounted on an owned overlay directory
// (kUpperSizeAnnotation); nothing mounted there is not an error.
void unmount_writable_layer(const std::string& overlay_dir);
// A checkpoint in progress is marked in the state dir; the next command undoes a killed one.
std::string checkpoint_marker(const StateStore& store, const std::string& id);
void recover_interrupted_checkpoint(const StateStore& store, LoadedContainer& c);
// Waits for `pid` (our child), forwarding signals sent to cryo; returns the exit code (128+sig).
int wait_forwarding_signals(pid_t pid);
// A wait status as a shell reports it: the exit code, or 128 + the signal.
int exit_code(int status);
void block_all_signals();

// Sends a seccomp user-notification listener to the spec's listenerPath with the container
// state (runtime-spec: "seccompFd"), for the create and exec paths.
void hand_out_listener(const oci::Spec& spec, const nlohmann::json& state, int listener);

}  // namespace cryo::runtime
