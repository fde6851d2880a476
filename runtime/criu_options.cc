#include "runtime/criu_options.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/file.h"

#include "runtime/rootfs/mount_options.h"
#include "runtime/rootfs/secure_path.h"

namespace cryo::runtime {

namespace {

// What the cached probe is valid for: this criu binary, this kernel.
std::string probe_key(const std::string& binary) {
  struct stat st = {};
  ::stat(binary.c_str(), &st);
  struct utsname u = {};
  ::uname(&u);
  return binary + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + ":" +
         std::to_string(st.st_mtim.tv_nsec) + ":" + u.release + ":" + u.version;
}

}  // namespace

checkpoint::CriuCapabilities criu_capabilities(checkpoint::CriuClient& criu, const std::string& cache_dir) {
  std::string path = cache_dir + "/criu-capabilities.json";
  std::string key = probe_key(criu.binary());
  try {
    auto j = nlohmann::json::parse(read_file_if_exists(path).value_or("{}"));
    if (j.value("key", "") == key) {
      checkpoint::CriuCapabilities c;
      c.version.major = j.at("major");
      c.version.minor = j.at("minor");
      c.version.sublevel = j.at("sublevel");
      c.features.mem_track = j.at("mem_track");
      c.features.lazy_pages = j.at("lazy_pages");
      c.features.pidfd_store = j.at("pidfd_store");
      return c;
    }
  } catch (const std::exception&) {
    // A damaged cache is probed again.
  }
  checkpoint::CriuCapabilities c = checkpoint::probe_capabilities(criu);
  nlohmann::json j = {{"key", key},
                      {"major", c.version.major},
                      {"minor", c.version.minor},
                      {"sublevel", c.version.sublevel},
                      {"mem_track", c.features.mem_track},
                      {"lazy_pages", c.features.lazy_pages},
                      {"pidfd_store", c.features.pidfd_store}};
  make_dirs(cache_dir, 0711);
  write_file_atomic(path, j.dump(), 0600);
  return c;
}

void apply_common_options(checkpoint::CommonOptions& c, bool tcp_established, bool ext_unix_sk, bool shell_job,
                          bool file_locks, bool lazy_pages, const std::string& mode) {
  c.tcp_established = tcp_established;
  c.ext_unix_sk = ext_unix_sk;
  c.shell_job = shell_job;
  c.file_locks = file_locks;
  c.lazy_pages = lazy_pages;
  // Network locking needs iptables/nftables; a sandbox's own network namespace needs none
  // unless established TCP connections are carried over.
  c.network_lock = tcp_established ? checkpoint::NetworkLock::Nftables : checkpoint::NetworkLock::Skip;
  using M = checkpoint::CgroupMode;
  if (mode.empty() || mode == "ignore") c.manage_cgroups = M::Ignore;
  else if (mode == "soft") c.manage_cgroups = M::Soft;
  else if (mode == "full") c.manage_cgroups = M::Full;
  else if (mode == "strict") c.manage_cgroups = M::Strict;
  else throw Error("--manage-cgroups-mode: must be soft, full, strict or ignore, got `" + mode + "`");
}

uint32_t parse_empty_ns(const std::vector<std::string>& names) {
  uint32_t flags = 0;
  for (auto& n : names) {
    if (n != "network" && n != "net")
      throw Error("--empty-ns: CRIU can only leave the network namespace empty, got `" + n + "`");
    flags |= CLONE_NEWNET;
  }
  return flags;
}

std::string criu_tools_dir() {
  std::string dir = executable_dir() + "/criu-path";
  return ::access((dir + "/tar").c_str(), X_OK) == 0 ? dir : "";
}

checkpoint::PageServer parse_page_server(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) throw Error("--page-server `" + address + "`: must be ADDRESS:PORT");
  try {
    return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
  } catch (const std::exception&) {
    throw Error("--page-server `" + address + "`: the port is not a number");
  }
}

namespace {

// Reads or sets the loopback's IFF_UP in the current network namespace.
bool loopback_up(bool set = false, bool up = false) {
  UniqueFd sk(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sk) throw_errno("socket for the loopback's flags");
  struct ifreq ifr = {};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (::ioctl(sk.get(), SIOCGIFFLAGS, &ifr) != 0) throw_errno("read the loopback's flags");
  if (set) {
    ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
    if (::ioctl(sk.get(), SIOCSIFFLAGS, &ifr) != 0) throw_errno("set the loopback up");
  }
  return ifr.ifr_flags & IFF_UP;
}

// Runs `fn` in the network namespace `ns`, then returns to ours.
template <typename Fn>
auto in_netns(int ns, Fn fn) {
  UniqueFd self = open_or_throw("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (::setns(ns, CLONE_NEWNET) != 0) throw_errno("enter a network namespace");
  struct Back {
    int fd;
    ~Back() {
      if (::setns(fd, CLONE_NEWNET) != 0) std::abort();  // never run on in the wrong namespace
    }
  } back{self.get()};
  return fn();
}

}  // namespace

std::optional<SimpleNetns> simple_netns(const oci::Spec& spec, pid_t pid) {
  auto ns = std::find_if(spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
                         [](const oci::Namespace& n) { return n.type == "network"; });
  if (ns == spec.linux.namespaces.end() || !ns->path.empty()) return std::nullopt;
  // In a user namespace the network namespace belongs to it, an ownership only CRIU can
  // recreate (it makes the user namespace during the restore).
  bool own_userns = std::any_of(spec.linux.namespaces.begin(), spec.linux.namespaces.end(),
                                [](const oci::Namespace& n) { return n.type == "user"; });
  if (own_userns) return std::nullopt;
  if (!spec.process || !spec.process->capabilities) return std::nullopt;
  auto& bounding = spec.process->capabilities->bounding;
  if (std::find(bounding.begin(), bounding.end(), "CAP_NET_ADMIN") != bounding.end()) return std::nullopt;
  try {
    std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
    UniqueFd target = open_or_throw(path, O_RDONLY | O_CLOEXEC);
    struct stat st = {};
    if (::fstat(target.get(), &st) != 0) return std::nullopt;
    auto simple = in_netns(target.get(), [&]() -> std::optional<SimpleNetns> {
      struct if_nameindex* names = ::if_nameindex();
      if (!names) return std::nullopt;
      bool only_lo = true;
      for (auto* n = names; n->if_index != 0; ++n)
        if (std::string(n->if_name) != "lo") only_lo = false;
      ::if_freenameindex(names);
      if (!only_lo) return std::nullopt;
      return SimpleNetns{static_cast<unsigned long>(st.st_ino), loopback_up(), {}};
    });
    if (simple) simple->fd = std::move(target);
    return simple;
  } catch (const SysError&) {
    return std::nullopt;  // CRIU dumps it as before
  }
}

UniqueFd fresh_netns(bool lo_up) {
  UniqueFd self = open_or_throw("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (::unshare(CLONE_NEWNET) != 0) throw_errno("create a network namespace for the restored container");
  UniqueFd fresh(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  int err = errno;
  bool ok = true;
  std::string what;
  try {
    if (fresh && lo_up) loopback_up(true, true);
  } catch (const SysError& e) {
    ok = false;
    what = e.what();
  }
  if (::setns(self.get(), CLONE_NEWNET) != 0) std::abort();
  if (!fresh) throw SysError(err, "open the new network namespace");
  if (!ok) throw Error(what);
  return fresh;
}

void require_own_mount_namespace(const oci::Spec& spec, const std::string& refused) {
  if (spec.linux.find_namespace("mount")) return;
  throw Error(refused + ": linux.namespaces has no \"mount\", so the container shares the host's mount "
              "namespace; cryo checkpoints and restores only containers with a mount namespace of their own");
}

std::vector<ExternalMount> external_mounts(const oci::Spec& spec) {
  std::vector<ExternalMount> out;
  for (auto& m : spec.mounts)
    if (parse_mount_options(m.options).bind() && m.type != "cgroup") out.push_back({clean_path(m.destination), m.source});
  return out;
}

}  // namespace cryo::runtime
