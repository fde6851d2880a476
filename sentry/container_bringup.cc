// Bringing a sandbox's container up: create + start, or restore from a checkpoint. This pulls in
// the CRIU client and the layer machinery, so it runs in cryo-sentry-setup, not in the sentry.
#include "base/error.h"
#include "base/file.h"
#include "sentry/container.h"

namespace cryo::sentry {

pid_t bring_up(const SentryConfig& cfg, const SandboxPaths& paths) {
  auto g = runtime_options(cfg);
  make_dirs(g.root, 0700);
  if (cfg.mode == "restore") {
    runtime::RestoreOptions o;
    o.id = cfg.id;
    o.image_path = cfg.restore_image;
    // CRIU writes its log into the work dir: clones restoring from one image side by side
    // must not share it (the image dir itself stays read-only to them).
    o.work_path = paths.dir + "/criu-work";
    make_dirs(o.work_path, 0700);
    o.bundle = paths.bundle();
    o.detach = true;
    runtime::container_restore(g, o);
  } else {
    runtime::CreateOptions o;
    o.id = cfg.id;
    o.bundle = paths.bundle();
    runtime::container_create(g, o);
    try {
      runtime::container_start(g, cfg.id);
    } catch (...) {
      try {
        runtime::container_delete(g, cfg.id, true);
      } catch (...) {
      }
      throw;
    }
  }
  auto info = runtime::container_state(g, cfg.id);
  if (info.state.pid <= 0) throw Error("container `" + cfg.id + "` has no running init after start");
  return info.state.pid;
}

}  // namespace cryo::sentry
