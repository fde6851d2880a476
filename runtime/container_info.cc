// state, list, ps and stats: read-only views of containers.
#include "runtime/container_internal.h"

namespace cryo::runtime {
namespace {

ContainerInfo info_of(const StateStore& store, const LoadedContainer& c) {
  return {c.oci_state(store), c.record.rootfs, c.record.created, "root"};
}

}  // namespace

ContainerInfo container_state(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  return info_of(store, load_container(store, id));
}

std::vector<ContainerInfo> container_list(const GlobalOptions& g) {
  StateStore store(g.root);
  std::vector<ContainerInfo> out;
  for (auto& id : store.list()) {
    try {
      out.push_back(info_of(store, load_container(store, id)));
    } catch (const NotFound&) {
      // deleted while we listed
    }
  }
  return out;
}

std::vector<pid_t> container_pids(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  return load_container(store, id).cgroup->pids();
}

nlohmann::json container_stats(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  return {{"type", "stats"}, {"id", id}, {"data", c.cgroup->stats()}};
}

}  // namespace cryo::runtime
