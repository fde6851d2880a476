// CRIU's kernel-probe cache where CRIU cannot keep one itself.
//
// Every criu process starts by probing the kernel (`kerndat`: ~30 ms here, including several
// iptables runs), and a restore runs two criu processes (the lazy-pages daemon and criu swrk).
// CRIU caches the probe in /run/criu.kdat, but only when /run is a tmpfs (a reboot, perhaps into
// another kernel, must clear it), and some probes need a network: they fail inside a container's
// network namespace whose loopback is down, where cryo runs criu (see CommonOptions::
// criu_netns_fd). So cryo keeps its own cache: a file named after the boot id and the criu
// binary, generated once in the host's namespaces by `criu check` against a private tmpfs /run,
// and shown to each criu child at /run/criu.kdat by a bind mount in the child's own mount
// namespace. The host's mount table never sees that bind.
#pragma once

#include <string>

namespace cryo::checkpoint {

struct KerndatMount {
  std::string source;  // our cache file; empty: criu probes as usual
  std::string target;  // /run/criu.kdat
  std::string shared_root;  // the mount holding `target`, made a slave so the bind stays private

  explicit operator bool() const { return !source.empty(); }
  // Runs in a forked child before exec (async-signal-safe calls only): unshare the mount
  // namespace and bind the cache. Best effort: on failure criu just probes the kernel.
  void apply_in_child() const;
};

// The cache for `criu_binary`, generated on first use. Never throws: with CRYO_CRIU_KDAT_CACHE=0,
// or when anything fails, returns an empty KerndatMount. `cache_dir` defaults to /var/cache/cryo.
KerndatMount prepare_kerndat_cache(const std::string& criu_binary, const std::string& cache_dir = "");

// The cache file's name for a boot id and the binary's identity (exposed for tests).
std::string kerndat_cache_name(const std::string& boot_id, const std::string& binary_identity);

}  // namespace cryo::checkpoint
