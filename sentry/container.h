// The sandbox's container, driven through the runtime library with a private runtime root.
#pragma once

#include <sys/types.h>

#include <string>

#include "runtime/container.h"
#include "sentry/layout.h"

namespace cryo::sentry {

runtime::GlobalOptions runtime_options(const SentryConfig& cfg);

// Defined in container_bringup.cc, linked only into cryo-sentry-setup (it needs the CRIU client).
// Creates and starts the container (mode create: bundle/ with its mounted rootfs), or restores
// it from the snapshot image (mode restore: bundle/ with an empty rootfs dir that cryo turns into
// a new overlay). Returns the init's host pid. On failure nothing of the container is left.
pid_t bring_up(const SentryConfig& cfg, const SandboxPaths& paths);

// Kills everything in the container, deletes it (cgroup, runtime state) and unmounts the root and
// its writable layer.
// Safe to call again and on a half-made sandbox; throws after trying every step if one failed.
void tear_down(const SentryConfig& cfg, const SandboxPaths& paths);

// Unmounts every mount stacked on `path` (lazily); missing path or no mount is fine.
void unmount_all(const std::string& path);

}  // namespace cryo::sentry
