// What cryo stores next to CRIU's images: the container config, the overlay root it ran on and
// the diff layer of its upper directory, and the init's stdio. cryo-checkpoint.json is written
// last, so an image without it is incomplete and is refused.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cryo::runtime {

inline constexpr const char* kCheckpointMeta = "cryo-checkpoint.json";
inline constexpr const char* kRootfsDiff = "rootfs-diff.tar";

struct OverlayRoot {
  std::vector<std::string> lowers;  // top-most first
  std::string upper, work;
};

struct CheckpointMeta {
  std::string container_id;
  std::string created;
  nlohmann::json config;
  std::optional<OverlayRoot> overlay;  // the root was an overlay: lowers + the diff layer
  std::string diff_digest;             // of rootfs-diff.tar
  std::vector<std::string> stdio;      // /proc/<init>/fd/{0,1,2} link targets at dump time
  // The container's own network namespace held only its loopback and was left out of the image
  // (external to CRIU): restore gives each clone a fresh one, loopback up when it was.
  std::optional<bool> fresh_netns_lo_up;
  // That namespace is not in CRIU's images: criu ran inside it (restore runs criu inside the new
  // one). Otherwise (older images) CRIU declared it external, to be handed in by inherit_fd.
  bool netns_outside_images = false;
  // How the memory pages were taken, for the record (not read back): pages copied while the
  // container ran, copied again frozen because they were written, and written to the images from
  // those copies (the rest came from CRIU).
  struct Precopy {
    uint64_t tasks = 0, pages_ahead = 0, pages_again = 0, pages_used = 0;
  };
  std::optional<Precopy> precopy;
};

nlohmann::json meta_to_json(const CheckpointMeta& m);
CheckpointMeta meta_from_json(const nlohmann::json& j, const std::string& source);
CheckpointMeta read_checkpoint_meta(const std::string& image_dir);

// The overlay mounted at `mountpoint`, from mountinfo text; nullopt when it is not an overlay.
std::optional<OverlayRoot> find_overlay(const std::string& mountinfo, const std::string& mountpoint);

}  // namespace cryo::runtime
