// The root filesystems sandboxes start from. "default" is a tiny directory the engine builds
// once: a minimal /etc, /workspace, /tmp, the sandbox init, and bin/lib/sbin symlinks into /usr,
// which each sandbox gets as a read-only bind of the host's /usr (so python3 and friends work).
#pragma once

#include <string>

namespace cryo::service {

// Path of the built default image under images_dir (images_dir/default), building it first if
// needed. Safe against concurrent callers and crashes (built aside, then renamed into place).
std::string ensure_default_image(const std::string& images_dir, const std::string& init_binary);
// The build of the default image ensure_default_image makes (a snapshot records it).
std::string default_image_version();

// The layer that puts the sandbox init (/.cryo/init) on top of an imported image:
// images_dir/cryo-init, holding only /.cryo. Built once, like the default image.
std::string ensure_init_layer(const std::string& images_dir, const std::string& init_binary);
std::string init_layer_version();

}  // namespace cryo::service
