// Where containers live between cryo invocations: <root>/<id>/state.json, an exec fifo while
// created, and a lock (flock on the container directory) so two cryo processes never act on
// one container at once.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fd.h"
#include "oci/state.h"

namespace cryo::runtime {

class NotFound : public Error {
 public:
  using Error::Error;
};

// What cryo records about a container; the live status is derived from it (see status.h).
struct ContainerRecord {
  std::string id;
  pid_t pid = 0;
  uint64_t pid_start_time = 0;  // /proc/<pid>/stat field 22: detects pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::string cgroup_path;
  bool stopped = false;  // set once the init is known to be gone
  std::string owned_rootfs_mount;  // an overlay cryo mounted for a restore; unmounted on delete
  std::string owned_overlay_dir;   // its upper/work directories
  nlohmann::json config;  // the config.json the container was created with
  std::map<std::string, std::string> annotations;
};

nlohmann::json record_to_json(const ContainerRecord& r);
ContainerRecord record_from_json(const nlohmann::json& j);

class ContainerLock {
 public:
  ContainerLock() = default;
  explicit ContainerLock(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

class StateStore {
 public:
  explicit StateStore(std::string root);
  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }
  std::string fifo_path(const std::string& id) const { return dir(id) + "/exec.fifo"; }

  // Makes the container directory; fails if the id is taken. Returns its lock.
  ContainerLock create(const std::string& id);
  // Locks an existing container; throws NotFound.
  ContainerLock lock(const std::string& id) const;
  ContainerRecord load(const std::string& id) const;
  void save(const ContainerRecord& r) const;
  void remove(const std::string& id) const;
  std::vector<std::string> list() const;

 private:
  std::string root_;
};

// Container ids: letters, digits, and _ + - . ; no path tricks.
void validate_container_id(const std::string& id);
uint64_t process_start_time(pid_t pid);  // 0 if the process is gone
std::string rfc3339_now();

}  // namespace cryo::runtime
