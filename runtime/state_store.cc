#include "runtime/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

#include "base/file.h"

namespace cryo::runtime {

using nlohmann::json;

json record_to_json(const ContainerRecord& r) {
  return {{"id", r.id},         {"pid", r.pid},         {"pid_start_time", r.pid_start_time},
          {"bundle", r.bundle}, {"rootfs", r.rootfs},   {"created", r.created},
          {"cgroup_path", r.cgroup_path}, {"stopped", r.stopped}, {"config", r.config},
          {"annotations", r.annotations}, {"owned_rootfs_mount", r.owned_rootfs_mount},
          {"owned_overlay_dir", r.owned_overlay_dir}};
}

ContainerRecord record_from_json(const json& j) {
  ContainerRecord r;
  r.id = j.at("id");
  r.pid = j.at("pid");
  r.pid_start_time = j.value("pid_start_time", uint64_t{0});
  r.bundle = j.value("bundle", "");
  r.rootfs = j.value("rootfs", "");
  r.created = j.value("created", "");
  r.cgroup_path = j.value("cgroup_path", "");
  r.stopped = j.value("stopped", false);
  r.config = j.value("config", json::object());
  r.annotations = j.value("annotations", std::map<std::string, std::string>{});
  r.owned_rootfs_mount = j.value("owned_rootfs_mount", "");
  r.owned_overlay_dir = j.value("owned_overlay_dir", "");
  return r;
}

void validate_container_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 1024 && id != "." && id != "..";
  for (char c : id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_+-.", c));
  if (!ok) throw Error("invalid container id `" + id + "`: use letters, digits, _ + - and .");
}

StateStore::StateStore(std::string root) : root_(std::move(root)) {}

static UniqueFd lock_dir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return UniqueFd();
    throw_errno("open `" + path + "`");
  }
  if (::flock(fd.get(), LOCK_EX) != 0) throw_errno("lock `" + path + "`");
  return fd;
}

ContainerLock StateStore::create(const std::string& id) {
  validate_container_id(id);
  make_dirs(root_, 0711);
  if (::mkdir(dir(id).c_str(), 0711) != 0) {
    if (errno == EEXIST) throw Error("container `" + id + "` already exists");
    throw_errno("mkdir `" + dir(id) + "`");
  }
  return ContainerLock(lock_dir(dir(id)));
}

ContainerLock StateStore::lock(const std::string& id) const {
  validate_container_id(id);
  UniqueFd fd = lock_dir(dir(id));
  // The holder before us may have deleted it.
  if (!fd || !path_exists(dir(id) + "/state.json")) throw NotFound("container `" + id + "` does not exist");
  return ContainerLock(std::move(fd));
}

ContainerRecord StateStore::load(const std::string& id) const {
  validate_container_id(id);
  auto text = read_file_if_exists(dir(id) + "/state.json");
  if (!text) throw NotFound("container `" + id + "` does not exist");
  try {
    return record_from_json(json::parse(*text));
  } catch (const json::exception& e) {
    throw Error(dir(id) + "/state.json: corrupt state: " + e.what());
  }
}

void StateStore::save(const ContainerRecord& r) const {
  write_file_atomic(dir(r.id) + "/state.json", record_to_json(r).dump(), 0600);
}

void StateStore::remove(const std::string& id) const { remove_tree(dir(id)); }

std::vector<std::string> StateStore::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root_.c_str());
  if (!d) return ids;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.' && path_exists(root_ + "/" + e->d_name + "/state.json")) ids.push_back(e->d_name);
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

uint64_t process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  auto stat = read_file_if_exists("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return 0;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  std::string rest = stat->substr(close + 2);
  char state = rest.empty() ? 'X' : rest[0];
  if (state == 'Z' || state == 'X') return 0;  // a zombie has exited
  size_t pos = 0;
  for (int field = 3; field < 22 && pos != std::string::npos; ++field) pos = rest.find(' ', pos + 1);
  if (pos == std::string::npos) return 0;
  return std::stoull(rest.substr(pos + 1));
}

std::string rfc3339_now() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
  struct tm tm;
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09lldZ", buf, static_cast<long long>(nanos));
  return out;
}

}  // namespace cryo::runtime
