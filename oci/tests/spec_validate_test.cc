#include <gtest/gtest.h>

#include "oci/spec.h"

using cryo::oci::parse_spec;
using cryo::oci::SpecError;
using nlohmann::json;

namespace {

json minimal() {
  return {{"ociVersion", "1.2.0"},
          {"root", {{"path", "rootfs"}}},
          {"process", {{"args", {"/bin/true"}}, {"cwd", "/"}}},
          {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "uts"}}}}}}};
}

std::string error_of(const json& doc) {
  try {
    parse_spec(doc.dump());
    return "";
  } catch (const SpecError& e) {
    return e.what();
  }
}

void expect_error(const json& doc, const std::string& fragment) {
  std::string err = error_of(doc);
  EXPECT_NE(err.find(fragment), std::string::npos) << "error: \"" << err << "\" lacks \"" << fragment << "\"";
}

}  // namespace

TEST(SpecValidate, AcceptsMinimal) { EXPECT_EQ(error_of(minimal()), ""); }

TEST(SpecValidate, Version) {
  json doc = minimal();
  doc["ociVersion"] = "2.0.0";
  expect_error(doc, "ociVersion: unsupported version \"2.0.0\"");
}

TEST(SpecValidate, Namespaces) {
  json doc = minimal();
  doc["linux"]["namespaces"].push_back({{"type", "foo"}});
  expect_error(doc, "linux.namespaces[3].type: unknown namespace \"foo\"");
  doc = minimal();
  doc["linux"]["namespaces"].push_back({{"type", "pid"}});
  expect_error(doc, "linux.namespaces[3].type: namespace \"pid\" listed twice");
  doc = minimal();
  doc["linux"]["namespaces"].push_back({{"type", "network"}, {"path", "relative/ns"}});
  expect_error(doc, "linux.namespaces[3].path: must be an absolute path");
}

TEST(SpecValidate, IdMappingsNeedUserNamespace) {
  json doc = minimal();
  doc["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
  expect_error(doc, "linux.uidMappings: set, but there is no new user namespace");
  doc = minimal();
  doc["linux"]["namespaces"].push_back({{"type", "user"}});
  expect_error(doc, "linux.uidMappings: required with a new user namespace");
}

TEST(SpecValidate, HostnameNeedsUts) {
  json doc = minimal();
  doc["hostname"] = "box";
  EXPECT_EQ(error_of(doc), "");
  doc["linux"]["namespaces"] = {{{"type", "mount"}}};
  expect_error(doc, "hostname: set, but there is no uts namespace");
}

TEST(SpecValidate, Process) {
  json doc = minimal();
  doc["process"]["cwd"] = "tmp";
  expect_error(doc, "process.cwd: must be an absolute path");
  doc = minimal();
  doc["process"]["env"] = {"PATH=/bin", "NOEQUALS"};
  expect_error(doc, "process.env[1]: must be KEY=VALUE");
  doc = minimal();
  doc["process"]["rlimits"] = {{{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}}};
  expect_error(doc, "process.rlimits[0].type: unknown rlimit \"RLIMIT_BOGUS\"");
  doc = minimal();
  doc["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 10}, {"hard", 1}}};
  expect_error(doc, "process.rlimits[0].soft: is above the hard limit");
  doc = minimal();
  doc["process"]["capabilities"] = {{"bounding", {"CAP_KILL", "CAP_FLY"}}};
  expect_error(doc, "process.capabilities.bounding[1]: unknown capability \"CAP_FLY\"");
}

TEST(SpecValidate, Seccomp) {
  json doc = minimal();
  doc["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                             {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_EXPLODE"}}}}};
  expect_error(doc, "linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_EXPLODE\"");
  doc["linux"]["seccomp"]["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY";
  expect_error(doc, "linux.seccomp.listenerPath: required");
  doc["linux"]["seccomp"]["listenerPath"] = "/run/listener.sock";
  EXPECT_EQ(error_of(doc), "");
  doc["linux"]["seccomp"]["syscalls"][0]["args"] = {{{"index", 9}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}};
  expect_error(doc, "linux.seccomp.syscalls[0].args[0].index: must be 0..5");
}

TEST(SpecValidate, Sysctl) {
  json doc = minimal();
  doc["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
  expect_error(doc, "linux.sysctl.net.ipv4.ip_forward: needs a network namespace");
  doc["linux"]["namespaces"].push_back({{"type", "network"}});
  EXPECT_EQ(error_of(doc), "");
  doc["linux"]["sysctl"] = {{"vm.swappiness", "10"}};
  expect_error(doc, "linux.sysctl.vm.swappiness: not namespaced");
}

TEST(SpecValidate, TimeOffsets) {
  json doc = minimal();
  doc["linux"]["timeOffsets"] = {{"boottime", {{"secs", 10}}}};
  expect_error(doc, "linux.timeOffsets: needs a new time namespace");
  doc["linux"]["namespaces"].push_back({{"type", "time"}});
  EXPECT_EQ(error_of(doc), "");
  doc["linux"]["timeOffsets"]["realtime"] = {{"secs", 1}};
  expect_error(doc, "linux.timeOffsets.realtime: unknown clock");
  doc["linux"]["timeOffsets"] = {{"monotonic", {{"secs", 1}, {"nanosecs", 1000000000}}}};
  expect_error(doc, "linux.timeOffsets.monotonic.nanosecs");
}

TEST(SpecValidate, PathsAndDevices) {
  json doc = minimal();
  doc["linux"]["maskedPaths"] = {"proc/kcore"};
  expect_error(doc, "linux.maskedPaths[0]: must be an absolute path");
  doc = minimal();
  doc["linux"]["devices"] = {{{"type", "x"}, {"path", "/dev/x"}}};
  expect_error(doc, "linux.devices[0].type: must be c, b, u or p");
  doc = minimal();
  doc["linux"]["rootfsPropagation"] = "sideways";
  expect_error(doc, "linux.rootfsPropagation: unknown propagation");
  doc = minimal();
  doc["linux"]["cgroupsPath"] = "/a/../../escape";
  expect_error(doc, "linux.cgroupsPath: must not contain");
}

TEST(SpecValidate, NetworkResourcesAreRefusedNotIgnored) {
  json doc = minimal();
  doc["linux"]["resources"]["network"] = {{"classID", 255}};
  expect_error(doc, "linux.resources.network.classID: net_cls is not supported");
  doc["linux"]["resources"]["network"] = {{"priorities", {{{"name", "lo"}, {"priority", 10}}}}};
  expect_error(doc, "linux.resources.network.priorities: net_prio is not supported");
  doc["linux"]["resources"]["network"] = json::object();  // nothing asked for
  EXPECT_EQ(error_of(doc), "");
}

// Without a mount namespace the container shares the host's mount table: a config without one is
// valid, but every field that would mount something is refused, named, with the reason.
namespace {
json without_mount_namespace() {
  json doc = minimal();
  doc["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "uts"}}};
  return doc;
}
}  // namespace

TEST(SpecValidate, NoMountNamespaceIsValidOnItsOwn) {
  EXPECT_EQ(error_of(without_mount_namespace()), "");
  json joined = minimal();
  joined["linux"]["namespaces"][1]["path"] = "/proc/1/ns/mnt";  // a joined one counts as one
  joined["mounts"] = {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}}};
  EXPECT_EQ(error_of(joined), "");
}

TEST(SpecValidate, NoMountNamespaceRefusesWhatWouldMountOnTheHost) {
  const std::string needs = "needs a mount namespace, and linux.namespaces has no \"mount\"";
  json doc = without_mount_namespace();
  doc["mounts"] = {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}}};
  expect_error(doc, "mounts[0]: " + needs + ": `/proc` would be mounted in the host's mount table");
  doc = without_mount_namespace();
  doc["linux"]["maskedPaths"] = {"/proc/kcore"};
  expect_error(doc, "linux.maskedPaths: " + needs);
  doc = without_mount_namespace();
  doc["linux"]["readonlyPaths"] = {"/proc/sys"};
  expect_error(doc, "linux.readonlyPaths: " + needs);
  doc = without_mount_namespace();
  doc["linux"]["devices"] = {{{"type", "c"}, {"path", "/dev/fuse"}, {"major", 10}, {"minor", 229}}};
  expect_error(doc, "linux.devices[0]: " + needs);
  doc = without_mount_namespace();
  doc["root"]["readonly"] = true;
  expect_error(doc, "root.readonly: " + needs);
  doc = without_mount_namespace();
  doc["linux"]["rootfsPropagation"] = "rslave";
  expect_error(doc, "linux.rootfsPropagation: " + needs);
}
