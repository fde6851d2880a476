#include "runtime/rootfs/mount_options.h"

#include <sys/mount.h>

#include <map>

namespace cryo::runtime {
namespace {

struct FlagEffect {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, FlagEffect>& flag_table() {
  static const std::map<std::string, FlagEffect> table = {
      {"async", {true, MS_SYNCHRONOUS}}, {"atime", {true, MS_NOATIME}},
      {"bind", {false, MS_BIND}},        {"defaults", {false, 0}},
      {"dev", {true, MS_NODEV}},         {"diratime", {true, MS_NODIRATIME}},
      {"dirsync", {false, MS_DIRSYNC}},  {"exec", {true, MS_NOEXEC}},
      {"mand", {false, MS_MANDLOCK}},    {"noatime", {false, MS_NOATIME}},
      {"nodev", {false, MS_NODEV}},      {"nodiratime", {false, MS_NODIRATIME}},
      {"noexec", {false, MS_NOEXEC}},    {"nomand", {true, MS_MANDLOCK}},
      {"norelatime", {true, MS_RELATIME}}, {"nostrictatime", {true, MS_STRICTATIME}},
      {"nosuid", {false, MS_NOSUID}},    {"rbind", {false, MS_BIND | MS_REC}},
      {"relatime", {false, MS_RELATIME}}, {"remount", {false, MS_REMOUNT}},
      {"ro", {false, MS_RDONLY}},        {"rw", {true, MS_RDONLY}},
      {"strictatime", {false, MS_STRICTATIME}}, {"suid", {true, MS_NOSUID}},
      {"sync", {false, MS_SYNCHRONOUS}}, {"lazytime", {false, MS_LAZYTIME}},
      {"nolazytime", {true, MS_LAZYTIME}}};
  return table;
}

}  // namespace

unsigned long propagation_flags(const std::string& name) {
  static const std::map<std::string, unsigned long> table = {
      {"private", MS_PRIVATE},        {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},          {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},            {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE},  {"runbindable", MS_UNBINDABLE | MS_REC}};
  auto it = table.find(name);
  return it == table.end() ? 0 : it->second;
}

MountFlags parse_mount_options(const std::vector<std::string>& options) {
  MountFlags out;
  for (auto& opt : options) {
    auto f = flag_table().find(opt);
    if (f != flag_table().end()) {
      if (f->second.clear) out.flags &= ~f->second.flag;
      else out.flags |= f->second.flag;
    } else if (unsigned long p = propagation_flags(opt)) {
      out.propagation |= p;
    } else if (opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap") {
      // Accepted for compatibility; not applied.
    } else {
      out.data += (out.data.empty() ? "" : ",") + opt;
    }
  }
  return out;
}

bool MountFlags::bind() const { return flags & MS_BIND; }
bool MountFlags::readonly() const { return flags & MS_RDONLY; }

}  // namespace cryo::runtime
