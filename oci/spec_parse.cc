// config.json -> Spec. Types and ranges are checked here; cross-field rules live in spec_validate.cc.
#include <limits>

#include "base/file.h"
#include "oci/json_reader.h"
#include "oci/spec.h"
#include "oci/spec_validate.h"

namespace cryo::oci {

using nlohmann::json;
namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

std::vector<IdMapping> parse_id_mappings(const JsonReader& r, const std::string& key) {
  std::vector<IdMapping> out;
  for (auto& m : r.array(key))
    out.push_back({m.required_uint<uint32_t>("containerID"), m.required_uint<uint32_t>("hostID"),
                   m.required_uint<uint32_t>("size")});
  return out;
}

std::vector<Hook> parse_hooks(const JsonReader& r, const std::string& key) {
  std::vector<Hook> out;
  for (auto& h : r.array(key)) {
    Hook hook{h.string("path", true), h.strings("args"), h.strings("env"), std::nullopt};
    if (auto t = h.int_in("timeout", 1, 24 * 3600)) hook.timeout = static_cast<int>(*t);
    out.push_back(std::move(hook));
  }
  return out;
}

Capabilities parse_capabilities(const JsonReader& r) {
  return {r.strings("bounding"), r.strings("effective"), r.strings("inheritable"),
          r.strings("permitted"), r.strings("ambient")};
}

Process parse_process_object(const JsonReader& r) {
  Process p;
  p.terminal = r.boolean("terminal");
  if (auto cs = r.optional_object("consoleSize"))
    p.console_size = ConsoleSize{cs->required_uint<uint16_t>("height"), cs->required_uint<uint16_t>("width")};
  if (auto u = r.optional_object("user")) {
    p.user.uid = u->uint_of<uint32_t>("uid").value_or(0);
    p.user.gid = u->uint_of<uint32_t>("gid").value_or(0);
    if (auto m = u->uint_in("umask", 07777)) p.user.umask = static_cast<uint32_t>(*m);
    const json& gids = u->node().contains("additionalGids") ? u->node()["additionalGids"] : json();
    if (!gids.is_null()) {
      if (!gids.is_array()) u->fail_field("additionalGids", "must be an array of integers");
      for (size_t i = 0; i < gids.size(); ++i) {
        if (!gids[i].is_number_unsigned() || gids[i].get<uint64_t>() > UINT32_MAX)
          u->fail_field("additionalGids[" + std::to_string(i) + "]", "must be an integer in [0, 4294967295]");
        p.user.additional_gids.push_back(gids[i].get<uint32_t>());
      }
    }
  }
  p.args = r.strings("args");
  p.env = r.strings("env");
  p.cwd = r.string("cwd", true);
  if (auto caps = r.optional_object("capabilities")) p.capabilities = parse_capabilities(*caps);
  for (auto& rl : r.array("rlimits"))
    p.rlimits.push_back({rl.string("type", true), rl.required_uint<uint64_t>("soft"),
                         rl.required_uint<uint64_t>("hard")});
  p.no_new_privileges = r.boolean("noNewPrivileges");
  p.apparmor_profile = r.string("apparmorProfile");
  p.selinux_label = r.string("selinuxLabel");
  if (auto adj = r.int_in("oomScoreAdj", -1000, 1000)) p.oom_score_adj = static_cast<int>(*adj);
  return p;
}

std::vector<ThrottleDevice> parse_throttle(const JsonReader& r, const std::string& key) {
  std::vector<ThrottleDevice> out;
  for (auto& d : r.array(key))
    out.push_back({*d.int_in("major", 0, kI64Max), *d.int_in("minor", 0, kI64Max),
                   d.required_uint<uint64_t>("rate")});
  return out;
}

Resources parse_resources_object(const JsonReader& r) {
  Resources res;
  for (auto& d : r.array("devices")) {
    DeviceRule rule;
    rule.allow = d.boolean("allow");
    rule.type = d.optional_string("type").value_or("a");
    rule.major = d.int_in("major", -1, kI64Max);
    rule.minor = d.int_in("minor", -1, kI64Max);
    rule.access = d.optional_string("access").value_or("rwm");
    res.devices.push_back(rule);
  }
  if (auto m = r.optional_object("memory")) {
    MemoryResources mem;
    mem.limit = m->int_in("limit", -1, kI64Max);
    mem.reservation = m->int_in("reservation", -1, kI64Max);
    mem.swap = m->int_in("swap", -1, kI64Max);
    mem.swappiness = m->uint_in("swappiness", 100);
    if (m->has("disableOOMKiller")) mem.disable_oom_killer = m->boolean("disableOOMKiller");
    res.memory = mem;
  }
  if (auto c = r.optional_object("cpu")) {
    CpuResources cpu;
    cpu.shares = c->uint_in("shares", 262144);
    cpu.quota = c->int_in("quota", -1, kI64Max);
    cpu.period = c->uint_in("period", 1000000);
    cpu.cpus = c->string("cpus");
    cpu.mems = c->string("mems");
    res.cpu = cpu;
  }
  if (auto p = r.optional_object("pids")) res.pids_limit = p->int_in("limit", -1, kI64Max);
  if (auto b = r.optional_object("blockIO")) {
    BlockIoResources io;
    io.weight = b->uint_of<uint16_t>("weight");
    for (auto& d : b->array("weightDevice"))
      io.weight_device.push_back({*d.int_in("major", 0, kI64Max), *d.int_in("minor", 0, kI64Max),
                                  d.uint_of<uint16_t>("weight")});
    io.throttle_read_bps = parse_throttle(*b, "throttleReadBpsDevice");
    io.throttle_write_bps = parse_throttle(*b, "throttleWriteBpsDevice");
    io.throttle_read_iops = parse_throttle(*b, "throttleReadIOPSDevice");
    io.throttle_write_iops = parse_throttle(*b, "throttleWriteIOPSDevice");
    res.block_io = io;
  }
  res.unified = r.string_map("unified");
  // net_cls/net_prio limits are not implemented (no cgroup v2 equivalent; hybrid hosts such as
  // these do not mount them): refuse them rather than run the container without them.
  if (auto n = r.optional_object("network")) {
    if (n->has("classID")) n->fail_field("classID", "net_cls is not supported by cryo");
    if (!n->array("priorities").empty()) n->fail_field("priorities", "net_prio is not supported by cryo");
  }
  return res;
}

Seccomp parse_seccomp(const JsonReader& r) {
  Seccomp s;
  s.default_action = r.string("defaultAction", true);
  s.default_errno_ret = r.uint_of<uint32_t>("defaultErrnoRet");
  s.architectures = r.strings("architectures");
  s.flags = r.strings("flags");
  s.listener_path = r.string("listenerPath");
  s.listener_metadata = r.string("listenerMetadata");
  for (auto& sc : r.array("syscalls")) {
    SeccompRule rule;
    rule.names = sc.strings("names");
    rule.action = sc.string("action", true);
    rule.errno_ret = sc.uint_of<uint32_t>("errnoRet");
    for (auto& a : sc.array("args"))
      rule.args.push_back({a.required_uint<uint32_t>("index"), a.required_uint<uint64_t>("value"),
                           a.uint_of<uint64_t>("valueTwo").value_or(0), a.string("op", true)});
    s.syscalls.push_back(std::move(rule));
  }
  return s;
}

Linux parse_linux(const JsonReader& r) {
  Linux l;
  for (auto& ns : r.array("namespaces")) l.namespaces.push_back({ns.string("type", true), ns.string("path")});
  l.uid_mappings = parse_id_mappings(r, "uidMappings");
  l.gid_mappings = parse_id_mappings(r, "gidMappings");
  for (auto& d : r.array("devices")) {
    Device dev;
    dev.type = d.string("type", true);
    dev.path = d.string("path", true);
    dev.major = d.int_in("major", 0, UINT32_MAX).value_or(0);
    dev.minor = d.int_in("minor", 0, UINT32_MAX).value_or(0);
    if (auto mode = d.uint_in("fileMode", 07777)) dev.file_mode = static_cast<uint32_t>(*mode);
    dev.uid = d.uint_of<uint32_t>("uid");
    dev.gid = d.uint_of<uint32_t>("gid");
    l.devices.push_back(dev);
  }
  l.cgroups_path = r.string("cgroupsPath");
  if (auto res = r.optional_object("resources")) l.resources = parse_resources_object(*res);
  l.sysctl = r.string_map("sysctl");
  if (auto sc = r.optional_object("seccomp")) l.seccomp = parse_seccomp(*sc);
  l.rootfs_propagation = r.string("rootfsPropagation");
  l.masked_paths = r.strings("maskedPaths");
  l.readonly_paths = r.strings("readonlyPaths");
  l.mount_label = r.string("mountLabel");
  if (auto offsets = r.optional_object("timeOffsets")) {
    for (auto& [clock, value] : offsets->node().items()) {
      auto o = offsets->child(clock);
      l.time_offsets[clock] = {o.int_in("secs", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()).value_or(0),
                               static_cast<uint32_t>(o.uint_in("nanosecs", 999'999'999).value_or(0))};
    }
  }
  return l;
}

Spec parse_spec_object(const JsonReader& r) {
  Spec s;
  s.oci_version = r.string("ociVersion", true);
  auto root = r.child("root");
  s.root_path = root.string("path", true);
  s.root_readonly = root.boolean("readonly");
  if (auto p = r.optional_object("process")) s.process = parse_process_object(*p);
  s.hostname = r.string("hostname");
  s.domainname = r.string("domainname");
  for (auto& m : r.array("mounts"))
    s.mounts.push_back({m.string("destination", true), m.string("type"), m.string("source"), m.strings("options")});
  if (auto h = r.optional_object("hooks")) {
    s.hooks.prestart = parse_hooks(*h, "prestart");
    s.hooks.create_runtime = parse_hooks(*h, "createRuntime");
    s.hooks.create_container = parse_hooks(*h, "createContainer");
    s.hooks.start_container = parse_hooks(*h, "startContainer");
    s.hooks.poststart = parse_hooks(*h, "poststart");
    s.hooks.poststop = parse_hooks(*h, "poststop");
  }
  s.annotations = r.string_map("annotations");
  if (auto l = r.optional_object("linux")) s.linux = parse_linux(*l);
  return s;
}

json parse_json_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw SpecError(source + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {
    // A number too large for any C++ type ("1E5555") is an out_of_range, not a parse_error.
    throw SpecError(source + ": invalid JSON: " + e.what());
  }
}

}  // namespace

bool Hooks::empty() const {
  return prestart.empty() && create_runtime.empty() && create_container.empty() &&
         start_container.empty() && poststart.empty() && poststop.empty();
}

const Namespace* Linux::find_namespace(const std::string& type) const {
  for (auto& ns : namespaces)
    if (ns.type == type) return &ns;
  return nullptr;
}

Spec parse_spec_json(const json& doc, const std::string& source) {
  Spec spec = parse_spec_object(JsonReader(doc, source, ""));
  validate_spec(spec, source);
  return spec;
}

Spec parse_spec(const std::string& text, const std::string& source) {
  return parse_spec_json(parse_json_text(text, source), source);
}

Spec load_spec(const std::string& bundle_dir) {
  std::string path = bundle_dir + "/config.json";
  auto text = read_file_if_exists(path);
  if (!text) throw SpecError(path + ": no such file (is --bundle right?)");
  return parse_spec(*text, path);
}

Process parse_process(const json& doc, const std::string& source) {
  Process p = parse_process_object(JsonReader(doc, source, ""));
  validate_process(p, source, "");
  return p;
}

Resources parse_resources(const json& doc, const std::string& source) {
  return parse_resources_object(JsonReader(doc, source, ""));
}

}  // namespace cryo::oci
