// The container's first process: cloned by cryo into new namespaces, it builds the container
// from the inside, reports "ready", waits on the exec fifo for `start`, then execs the workload.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "oci/spec.h"
#include "runtime/process/sync.h"
#include "runtime/rootfs/rootfs.h"

namespace cryo::runtime {

struct NamespaceJoin {
  int type;  // CLONE_NEW*
  std::string path;
};

struct InitOptions {
  const oci::Spec* spec = nullptr;
  RootfsOptions rootfs;
  int fifo_fd = -1;     // O_PATH fd of <state>/exec.fifo
  int console_fd = -1;  // connected console socket, when process.terminal
  int preserve_fds = 0;
  int lock_fd = -1;     // the container lock: a flock is shared with forked children, so drop it
  int clone_flags = 0;                // namespaces created by clone
  int unshare_flags = 0;              // namespaces created after joining a user namespace
  bool new_time_ns = false;           // created by the parent (clone cannot), with the offsets
  std::vector<NamespaceJoin> joins;   // joined by the child (user first)
};

// Clones the init. Joined pid and time namespaces are entered by the parent (they apply to
// children), the rest by the child. Returns the child's pid; the child never returns.
pid_t spawn_container_init(const InitOptions& opts, SyncChannel& child_end, SyncChannel& parent_end);

// Namespaces the spec asks for, split into what clone creates and what is joined.
void plan_namespaces(const oci::Spec& spec, InitOptions& opts);

}  // namespace cryo::runtime
