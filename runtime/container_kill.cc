// kill and delete.
#include <signal.h>

#include "runtime/container_internal.h"

namespace cryo::runtime {

void container_kill(const GlobalOptions& g, const std::string& id, int signal, bool all) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  if (!c.init_alive() && !all) throw Error("cannot kill container `" + id + "`: it is not running");
  if (all) {
    for (pid_t p : c.cgroup->pids()) ::kill(p, signal);
    // Stopped-by-freezer tasks only act on the signal once thawed.
    if (signal == SIGKILL && c.cgroup->frozen()) c.cgroup->thaw();
    return;
  }
  if (::kill(c.record.pid, signal) != 0) throw_errno("kill container `" + id + "` init");
}

void container_delete(const GlobalOptions& g, const std::string& id, bool force) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  oci::Status status = c.status(store);
  if (status != oci::Status::Stopped && status != oci::Status::Created && !force)
    throw Error("cannot delete container `" + id + "` that is " + oci::status_name(status) + " (use --force)");
  kill_all_and_wait(c);
  destroy_container(store, c);
}

}  // namespace cryo::runtime
