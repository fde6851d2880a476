// pause and resume, through the freezer.
#include "runtime/container_internal.h"

namespace cryo::runtime {

void container_pause(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  oci::Status status = c.status(store);
  if (status != oci::Status::Running && status != oci::Status::Created)
    throw Error("cannot pause container `" + id + "`: it is " + oci::status_name(status));
  c.cgroup->freeze();
}

void container_resume(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  if (c.status(store) != oci::Status::Paused) throw Error("cannot resume container `" + id + "`: it is not paused");
  c.cgroup->thaw();
}

void container_update(const GlobalOptions& g, const std::string& id, const oci::Resources& r) {
  StateStore store(g.root);
  LoadedContainer c = load_container(store, id);
  if (c.status(store) == oci::Status::Stopped) throw Error("cannot update container `" + id + "`: it is stopped");
  c.cgroup->set(r);
  // Keep the recorded config in step so later reads see the new limits.
  auto& res = c.record.config["linux"]["resources"];
  if (r.memory && r.memory->limit) res["memory"]["limit"] = *r.memory->limit;
  if (r.pids_limit) res["pids"]["limit"] = *r.pids_limit;
  if (r.cpu && r.cpu->quota) res["cpu"]["quota"] = *r.cpu->quota;
  if (r.cpu && r.cpu->shares) res["cpu"]["shares"] = *r.cpu->shares;
  store.save(c.record);
}

}  // namespace cryo::runtime
