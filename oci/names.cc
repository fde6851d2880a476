// Spec names -> kernel constants.
#include <sched.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "oci/spec.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace cryo::oci {

std::optional<int> namespace_clone_flag(const std::string& type) {
  static const std::map<std::string, int> flags = {
      {"pid", CLONE_NEWPID},   {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
      {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},     {"user", CLONE_NEWUSER},
      {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}};
  auto it = flags.find(type);
  if (it == flags.end()) return std::nullopt;
  return it->second;
}

std::optional<int> rlimit_resource(const std::string& name) {
  static const std::map<std::string, int> limits = {
      {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};
  auto it = limits.find(name);
  if (it == limits.end()) return std::nullopt;
  return it->second;
}

std::optional<int> capability_value(const std::string& name) {
  if (name.rfind("CAP_", 0) != 0) return std::nullopt;
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  cap_value_t value;
  if (cap_from_name(lower.c_str(), &value) != 0) return std::nullopt;
  return static_cast<int>(value);
}

}  // namespace cryo::oci
