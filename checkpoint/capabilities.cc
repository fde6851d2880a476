#include "checkpoint/criu.h"

namespace cryo::checkpoint {
namespace {

void require_dirty_tracking(const CriuCapabilities& caps, const std::string& what) {
  if (caps.features.mem_track) return;
  throw Error(what + " needs dirty memory tracking, which criu " + caps.version.str() +
              " reports unavailable on this kernel (soft-dirty is off); take a full dump instead");
}

void require_lazy_pages(const CriuCapabilities& caps) {
  if (caps.features.lazy_pages) return;
  throw Error("lazy pages need userfaultfd, which criu " + caps.version.str() +
              " reports unavailable on this kernel");
}

void require_version(const CriuCapabilities& caps) {
  if (!caps.version.at_least(kMinCriuMajor, kMinCriuMinor))
    throw Error("criu " + caps.version.str() + " is too old: cryo needs criu >= " +
                std::to_string(kMinCriuMajor) + "." + std::to_string(kMinCriuMinor));
}

}  // namespace

CriuCapabilities probe_capabilities(CriuClient& client) {
  CriuCapabilities caps;
  caps.version = client.version();
  if (!caps.version.at_least(kMinCriuMajor, kMinCriuMinor))
    throw CriuError("criu " + caps.version.str() + " at " + client.binary() +
                    " is too old: cryo needs criu >= " + std::to_string(kMinCriuMajor) + "." +
                    std::to_string(kMinCriuMinor) + " (run scripts/setup.sh)");
  caps.features = client.feature_check();
  return caps;
}

void check_supported(const DumpOptions& opts, const CriuCapabilities& caps, DumpKind kind) {
  require_version(caps);
  if (kind == DumpKind::PreDump) require_dirty_tracking(caps, "pre-dump");
  if (opts.track_mem) require_dirty_tracking(caps, "track_mem (memory tracking for a later dump)");
  if (!opts.parent_image.empty())
    require_dirty_tracking(caps, "an incremental dump on parent image `" + opts.parent_image + "`");
  if (opts.lazy_pages) require_lazy_pages(caps);
}

void check_supported(const RestoreOptions& opts, const CriuCapabilities& caps) {
  require_version(caps);
  if (opts.lazy_pages) require_lazy_pages(caps);
}

}  // namespace cryo::checkpoint
