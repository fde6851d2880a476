// The sentry engine's file operations: done from the host, in the sandbox's root as its init sees
// it (see sandbox_files.h), without the sentry.
#include <fcntl.h>

#include <cerrno>
#include <string>

#include "base/error.h"
#include "runtime/container.h"
#include "runtime/state_store.h"
#include "sentry/container.h"
#include "service/sandbox_files.h"
#include "service/sentry_engine_internal.h"

namespace cryo::service {

using sentry::SandboxPaths;

std::string SentryEngine::read_file(const std::string& id, const std::string& path) {
  return sandbox_files::read(open_root(id).get(), path);
}

void SentryEngine::write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) {
  sandbox_files::write(open_root(id).get(), path, data, mode);
}

std::vector<FileEntry> SentryEngine::list_dir(const std::string& id, const std::string& path) {
  return sandbox_files::list(open_root(id).get(), path);
}

FileEntry SentryEngine::stat(const std::string& id, const std::string& path) {
  return sandbox_files::stat(open_root(id).get(), path);
}

void SentryEngine::remove(const std::string& id, const std::string& path, bool recursive) {
  sandbox_files::remove(open_root(id).get(), path, recursive);
}

void SentryEngine::make_dir(const std::string& id, const std::string& path) {
  sandbox_files::make_dir(open_root(id).get(), path);
}

// A dir fd on the sandbox's root as its init sees it (all its mounts included).
UniqueFd SentryEngine::open_root(const std::string& id) {
  SandboxPaths p = existing(id);
  auto g = sentry::runtime_options(sentry::load_sentry_config(p));
  auto init_pid = [&]() -> pid_t {
    try {
      auto info = runtime::container_state(g, id);
      if (info.state.status == oci::Status::Stopped || info.state.pid <= 0)
        throw Conflict("sandbox `" + id + "` is not running");
      return info.state.pid;
    } catch (const runtime::NotFound&) {
      throw Conflict("sandbox `" + id + "` is not running");
    }
  };
  pid_t pid = init_pid();
  UniqueFd root(::open(("/proc/" + std::to_string(pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw Conflict("sandbox `" + id + "` is not running (" + errno_name(errno) + ")");
  // The pid could have died and been reused between the two steps: check it is still the init.
  if (init_pid() != pid) throw Conflict("sandbox `" + id + "` is not running");
  return root;
}

}  // namespace cryo::service
