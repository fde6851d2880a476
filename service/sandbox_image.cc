#include "service/sandbox_image.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "base/error.h"
#include "base/file.h"

namespace cryo::service {
namespace {

namespace fs = std::filesystem;

// Bump when the image's content changes, so old state dirs get a rebuilt image.
constexpr const char* kImageVersion = "1";

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "user:x:1000:1000:sandbox user:/home/user:/bin/sh\n";
const char* kGroup = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\nuser:x:1000:\n";
const char* kHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const char* kNsswitch = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

void copy_host_etc(const std::string& etc, const std::string& name) {
  fs::path src = fs::path("/etc") / name;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(src, ec))) return;
  // Symlinks stay symlinks: /etc/alternatives points into /usr, which the sandbox has too.
  fs::copy(src, fs::path(etc) / name,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks | fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error("default image: copy `" + src.string() + "`: " + ec.message());
}

void mkdir_mode(const std::string& path, mode_t mode) {
  make_dirs(path, mode);
  if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod `" + path + "`");
}

void build(const std::string& root, const std::string& init_binary) {
  for (auto* d : {"etc", "workspace", "proc", "sys", "dev", "usr", "run", "mnt", "opt", "srv", "var/lib", "var/log",
                  "var/cache", ".cryo"})
    mkdir_mode(root + "/" + d, 0755);
  mkdir_mode(root + "/tmp", 01777);
  mkdir_mode(root + "/var/tmp", 01777);
  mkdir_mode(root + "/root", 0700);
  mkdir_mode(root + "/home/user", 0755);
  if (::chown((root + "/home/user").c_str(), 1000, 1000) != 0) throw_errno("chown /home/user");
  // Debian 12 has a merged /usr: the top-level dirs are symlinks into it.
  for (auto [link, target] : {std::pair{"bin", "usr/bin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"},
                              {"sbin", "usr/sbin"}})
    if (::symlink(target, (root + "/" + link).c_str()) != 0) throw_errno(std::string("symlink /") + link);
  if (::symlink("../proc/self/mounts", (root + "/etc/mtab").c_str()) != 0) throw_errno("symlink /etc/mtab");

  std::string etc = root + "/etc";
  write_file_atomic(etc + "/passwd", kPasswd, 0644);
  write_file_atomic(etc + "/group", kGroup, 0644);
  write_file_atomic(etc + "/hosts", kHosts, 0644);
  write_file_atomic(etc + "/nsswitch.conf", kNsswitch, 0644);
  // Only sandboxes with network use it; the others have nothing but lo.
  auto resolv = read_file_if_exists("/etc/resolv.conf");
  write_file_atomic(etc + "/resolv.conf", resolv.value_or(""), 0644);
  // What the host's /usr needs from /etc: the loader's cache, alternatives links, python's and
  // TLS configuration.
  for (auto* name : {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "python3", "python3.11",
                     "ssl", "ca-certificates.conf", "localtime", "timezone", "os-release", "debian_version"})
    copy_host_etc(etc, name);

  std::string init = root + "/.cryo/init";
  write_file_atomic(init, read_file(init_binary), 0755);
}


// Builds images_dir/name with `build` unless it holds .cryo/version == version already.
template <typename Build>
std::string ensure_built(const std::string& images_dir, const std::string& name, const std::string& version,
                         Build&& build) {
  static std::mutex mu;  // one builder per process; the rename handles other processes
  std::lock_guard lock(mu);
  std::string final_dir = images_dir + "/" + name;
  auto current = read_file_if_exists(final_dir + "/.cryo/version");
  if (current && *current == version) return final_dir;
  if (current) {
    // An image of another version may still be the lower layer of running sandboxes: keep it
    // under a new name rather than changing it under them.
    std::string old = final_dir + ".v" + *current + "." + std::to_string(::getpid());
    if (::rename(final_dir.c_str(), old.c_str()) != 0) throw_errno("move aside old image `" + final_dir + "`");
  }
  make_dirs(images_dir, 0700);
  std::string tmp = final_dir + ".tmp-" + std::to_string(::getpid());
  remove_tree(tmp);
  try {
    make_dirs(tmp, 0755);
    build(tmp);
    write_file_atomic(tmp + "/.cryo/version", version, 0644);
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      // Another process published it first: use theirs.
      if ((errno == ENOTEMPTY || errno == EEXIST) && read_file_if_exists(final_dir + "/.cryo/version")) {
        remove_tree(tmp);
        return final_dir;
      }
      throw_errno("publish image `" + final_dir + "`");
    }
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  return final_dir;
}

constexpr const char* kInitLayerVersion = "1";

}  // namespace

std::string default_image_version() { return kImageVersion; }
std::string init_layer_version() { return kInitLayerVersion; }

std::string ensure_default_image(const std::string& images_dir, const std::string& init_binary) {
  return ensure_built(images_dir, "default", kImageVersion, [&](const std::string& root) { build(root, init_binary); });
}

std::string ensure_init_layer(const std::string& images_dir, const std::string& init_binary) {
  return ensure_built(images_dir, "cryo-init", kInitLayerVersion, [&](const std::string& root) {
    mkdir_mode(root + "/.cryo", 0755);
    write_file_atomic(root + "/.cryo/init", read_file(init_binary), 0755);
  });
}

}  // namespace cryo::service
