#include "runtime/cli/commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "base/file.h"
#include "oci/spec.h"
#include "runtime/cli/args.h"
#include "runtime/cli/features.h"
#include "runtime/state_store.h"

namespace cryo::cli {
namespace {

using runtime::GlobalOptions;
using Args = std::vector<std::string>;

// Parsed flags and positional arguments of one command; nullopt-like `help` when --help was asked.
struct Parsed {
  po::variables_map vm;
  Args positional;
  bool help = false;
};

Parsed parse(const Args& args, po::options_description desc, const std::string& usage) {
  desc.add_options()("help,h", "show help");
  Parsed p;
  SplitArgs split = split_args(args, desc);
  parse_options(split, desc, p.vm);
  p.positional = split.positional;
  if (p.vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << desc;
    p.help = true;
  }
  return p;
}

std::string need_id(const Parsed& p, const std::string& cmd) {
  if (p.positional.empty()) throw Error(cmd + ": a container id is required");
  return p.positional[0];
}

template <typename T>
T opt(const Parsed& p, const std::string& name, T fallback) {
  return p.vm.count(name) ? p.vm[name].as<T>() : fallback;
}

po::options_description create_options(const char* title) {
  po::options_description d(title);
  d.add_options()("bundle,b", po::value<std::string>()->default_value("."), "bundle directory")(
      "console-socket", po::value<std::string>(), "unix socket that receives the pty master")(
      "pid-file", po::value<std::string>(), "write the init's pid here")(
      "no-pivot", po::bool_switch(), "use move+chroot instead of pivot_root")(
      "no-new-keyring", po::bool_switch(), "do not create a session keyring")(
      "preserve-fds", po::value<int>()->default_value(0), "pass this many fds beyond stdio")(
      "detach,d", po::bool_switch(), "(run) do not wait for the container")(
      "keep", po::bool_switch(), "(run) keep the container after it exits")(
      "no-subreaper", po::bool_switch(), "ignored")("notify-socket", po::value<std::string>(), "ignored");
  return d;
}

runtime::CreateOptions create_opts(const Parsed& p, const std::string& cmd) {
  runtime::CreateOptions o;
  o.id = need_id(p, cmd);
  o.bundle = opt<std::string>(p, "bundle", ".");
  o.console_socket = opt<std::string>(p, "console-socket", "");
  o.pid_file = opt<std::string>(p, "pid-file", "");
  o.no_pivot = opt<bool>(p, "no-pivot", false);
  o.no_new_keyring = opt<bool>(p, "no-new-keyring", false);
  o.preserve_fds = opt<int>(p, "preserve-fds", 0);
  if (o.preserve_fds < 0) throw Error("--preserve-fds: must not be negative");
  return o;
}

int cmd_create(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, create_options("create options"), "cryo create [options] <container-id>");
  if (p.help) return 0;
  runtime::container_create(g, create_opts(p, "create"));
  return 0;
}

int cmd_run(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, create_options("run options"), "cryo run [options] <container-id>");
  if (p.help) return 0;
  return runtime::container_run(g, create_opts(p, "run"), opt<bool>(p, "detach", false));
}

int cmd_start(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, po::options_description("start options"), "cryo start <container-id>");
  if (p.help) return 0;
  runtime::container_start(g, need_id(p, "start"));
  return 0;
}

oci::User parse_user(const std::string& spec) {
  oci::User u;
  auto colon = spec.find(':');
  try {
    u.uid = static_cast<uint32_t>(std::stoul(spec.substr(0, colon)));
    if (colon != std::string::npos) u.gid = static_cast<uint32_t>(std::stoul(spec.substr(colon + 1)));
  } catch (const std::exception&) {
    throw Error("--user `" + spec + "`: must be uid[:gid] (numbers)");
  }
  return u;
}

oci::Process exec_process(const GlobalOptions& g, const Parsed& p, const std::string& id) {
  if (p.vm.count("process")) {
    std::string path = p.vm["process"].as<std::string>();
    std::string text = path == "-" ? read_fd(0) : read_file(path);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw oci::SpecError(path + ": invalid JSON: " + e.what());
    }
    return oci::parse_process(doc, path);
  }
  oci::Process proc = runtime::exec_process_from_config(g, id);
  proc.args.assign(p.positional.begin() + 1, p.positional.end());
  if (proc.args.empty()) throw Error("exec: a command is required (or -p process.json)");
  for (auto& e : opt<Args>(p, "env", {})) proc.env.push_back(e);
  if (p.vm.count("cwd")) proc.cwd = p.vm["cwd"].as<std::string>();
  if (p.vm.count("user")) proc.user = parse_user(p.vm["user"].as<std::string>());
  for (auto& gid : opt<Args>(p, "additional-gids", {})) proc.user.additional_gids.push_back(std::stoul(gid));
  proc.terminal = opt<bool>(p, "tty", false);
  if (opt<bool>(p, "no-new-privs", false)) proc.no_new_privileges = true;
  for (auto& cap : opt<Args>(p, "cap", {})) {
    if (!proc.capabilities) proc.capabilities = oci::Capabilities{};
    for (auto* set : {&proc.capabilities->bounding, &proc.capabilities->effective, &proc.capabilities->permitted})
      set->push_back(cap);
  }
  return proc;
}

int cmd_exec(const GlobalOptions& g, const Args& a) {
  po::options_description d("exec options");
  d.add_options()("console-socket", po::value<std::string>(), "unix socket that receives the pty master")(
      "cwd", po::value<std::string>(), "working directory")("env,e", po::value<Args>()->composing(), "KEY=VALUE")(
      "tty,t", po::bool_switch(), "allocate a pty")("user,u", po::value<std::string>(), "uid[:gid]")(
      "additional-gids,g", po::value<Args>()->composing(), "extra group ids")(
      "process,p", po::value<std::string>(), "process.json (- for stdin)")(
      "detach,d", po::bool_switch(), "do not wait for the process")(
      "pid-file", po::value<std::string>(), "write the process's pid here")(
      "process-label", po::value<std::string>(), "SELinux label")(
      "apparmor", po::value<std::string>(), "AppArmor profile")(
      "no-new-privs", po::bool_switch(), "set no_new_privs")("cap,c", po::value<Args>()->composing(), "add a capability")(
      "preserve-fds", po::value<int>()->default_value(0), "pass this many fds beyond stdio")(
      "cgroup", po::value<Args>()->composing(), "ignored")("ignore-paused", po::bool_switch(), "ignored");
  Parsed p = parse(a, d, "cryo exec [options] <container-id> <command> [args...]\n\n"
                         "examples:\n  cryo exec mycontainer ps\n  cryo exec -t --console-socket /tmp/c.sock mycontainer sh");
  if (p.help) return 0;
  runtime::ExecOptions o;
  o.id = need_id(p, "exec");
  o.process = exec_process(g, p, o.id);
  if (p.vm.count("apparmor")) o.process.apparmor_profile = p.vm["apparmor"].as<std::string>();
  if (p.vm.count("process-label")) o.process.selinux_label = p.vm["process-label"].as<std::string>();
  o.console_socket = opt<std::string>(p, "console-socket", "");
  o.pid_file = opt<std::string>(p, "pid-file", "");
  o.preserve_fds = opt<int>(p, "preserve-fds", 0);
  o.detach = opt<bool>(p, "detach", false);
  return runtime::container_exec(g, o);
}

int cmd_kill(const GlobalOptions& g, const Args& a) {
  po::options_description d("kill options");
  d.add_options()("all,a", po::bool_switch(), "signal every process of the container");
  Parsed p = parse(a, d, "cryo kill [--all] <container-id> [signal]   (default signal: TERM)");
  if (p.help) return 0;
  int sig = runtime::parse_signal(p.positional.size() > 1 ? p.positional[1] : "TERM");
  runtime::container_kill(g, need_id(p, "kill"), sig, opt<bool>(p, "all", false));
  return 0;
}

int cmd_delete(const GlobalOptions& g, const Args& a) {
  po::options_description d("delete options");
  d.add_options()("force,f", po::bool_switch(), "kill a running container first");
  Parsed p = parse(a, d, "cryo delete [--force] <container-id>");
  if (p.help) return 0;
  std::string id = need_id(p, "delete");
  bool force = opt<bool>(p, "force", false);
  try {
    runtime::container_delete(g, id, force);
  } catch (const runtime::NotFound&) {
    if (!force) throw;  // runc: delete --force of a missing container succeeds
  }
  return 0;
}

int cmd_state(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, po::options_description("state options"), "cryo state <container-id>");
  if (p.help) return 0;
  std::cout << runtime::info_json(runtime::container_state(g, need_id(p, "state"))).dump(2) << std::endl;
  return 0;
}

int cmd_list(const GlobalOptions& g, const Args& a) {
  po::options_description d("list options");
  d.add_options()("format,f", po::value<std::string>()->default_value("table"), "table or json")(
      "quiet,q", po::bool_switch(), "print ids only");
  Parsed p = parse(a, d, "cryo list [--format table|json] [--quiet]");
  if (p.help) return 0;
  auto all = runtime::container_list(g);
  std::string format = opt<std::string>(p, "format", "table");
  if (opt<bool>(p, "quiet", false)) {
    for (auto& c : all) std::cout << c.state.id << "\n";
  } else if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& c : all) arr.push_back(runtime::info_json(c));
    std::cout << arr.dump() << std::endl;
  } else if (format == "table") {
    std::printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    for (auto& c : all)
      std::printf("%-20s %-8d %-10s %-40s %-32s %s\n", c.state.id.c_str(), c.state.pid,
                  oci::status_name(c.state.status).c_str(), c.state.bundle.c_str(), c.created.c_str(), c.owner.c_str());
  } else {
    throw Error("--format: must be table or json");
  }
  return 0;
}

int cmd_ps(const GlobalOptions& g, const Args& a) {
  po::options_description d("ps options");
  d.add_options()("format,f", po::value<std::string>()->default_value("table"), "table or json");
  Parsed p = parse(a, d, "cryo ps [--format table|json] <container-id>");
  if (p.help) return 0;
  auto pids = runtime::container_pids(g, need_id(p, "ps"));
  if (opt<std::string>(p, "format", "table") == "json") {
    std::cout << nlohmann::json(pids).dump() << std::endl;
    return 0;
  }
  std::printf("%-8s %s\n", "PID", "CMD");
  for (pid_t pid : pids) {
    std::string cmd = read_file_if_exists("/proc/" + std::to_string(pid) + "/cmdline").value_or("");
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    std::printf("%-8d %s\n", pid, cmd.c_str());
  }
  return 0;
}

int cmd_pause(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, po::options_description("pause options"), "cryo pause <container-id>");
  if (p.help) return 0;
  runtime::container_pause(g, need_id(p, "pause"));
  return 0;
}

int cmd_resume(const GlobalOptions& g, const Args& a) {
  Parsed p = parse(a, po::options_description("resume options"), "cryo resume <container-id>");
  if (p.help) return 0;
  runtime::container_resume(g, need_id(p, "resume"));
  return 0;
}

int cmd_update(const GlobalOptions& g, const Args& a) {
  po::options_description d("update options");
  d.add_options()("resources,r", po::value<std::string>(), "linux.resources JSON file (- for stdin)")(
      "memory", po::value<int64_t>(), "memory limit in bytes")("memory-swap", po::value<int64_t>(), "memory+swap limit")(
      "memory-reservation", po::value<int64_t>(), "soft limit")("kernel-memory", po::value<int64_t>(), "ignored")(
      "cpu-shares", po::value<uint64_t>(), "relative weight")("cpu-quota", po::value<int64_t>(), "CFS quota (us)")(
      "cpu-period", po::value<uint64_t>(), "CFS period (us)")("cpuset-cpus", po::value<std::string>(), "cpus")(
      "cpuset-mems", po::value<std::string>(), "memory nodes")("pids-limit", po::value<int64_t>(), "max pids")(
      "blkio-weight", po::value<uint16_t>(), "block io weight");
  Parsed p = parse(a, d, "cryo update [options] <container-id>\n\nexample:\n  cryo update --memory 268435456 --pids-limit 100 mycontainer");
  if (p.help) return 0;
  std::string id = need_id(p, "update");
  oci::Resources r;
  if (p.vm.count("resources")) {
    std::string path = p.vm["resources"].as<std::string>();
    std::string text = path == "-" ? read_fd(0) : read_file(path);
    try {
      r = oci::parse_resources(nlohmann::json::parse(text), path);
    } catch (const nlohmann::json::exception& e) {
      throw oci::SpecError(path + ": invalid JSON: " + e.what());
    }
  }
  // Zero means "unset", as runc treats the zeros Docker sends.
  auto set_i64 = [&](const char* flag, auto assign) {
    if (p.vm.count(flag) && p.vm[flag].as<int64_t>() != 0) assign(p.vm[flag].as<int64_t>());
  };
  set_i64("memory", [&](int64_t v) { r.memory = r.memory.value_or(oci::MemoryResources{}); r.memory->limit = v; });
  set_i64("memory-swap", [&](int64_t v) { r.memory = r.memory.value_or(oci::MemoryResources{}); r.memory->swap = v; });
  set_i64("memory-reservation", [&](int64_t v) { r.memory = r.memory.value_or(oci::MemoryResources{}); r.memory->reservation = v; });
  set_i64("cpu-quota", [&](int64_t v) { r.cpu = r.cpu.value_or(oci::CpuResources{}); r.cpu->quota = v; });
  set_i64("pids-limit", [&](int64_t v) { r.pids_limit = v; });
  if (p.vm.count("cpu-shares") && p.vm["cpu-shares"].as<uint64_t>()) {
    r.cpu = r.cpu.value_or(oci::CpuResources{});
    r.cpu->shares = p.vm["cpu-shares"].as<uint64_t>();
  }
  if (p.vm.count("cpu-period") && p.vm["cpu-period"].as<uint64_t>()) {
    r.cpu = r.cpu.value_or(oci::CpuResources{});
    r.cpu->period = p.vm["cpu-period"].as<uint64_t>();
  }
  if (p.vm.count("cpuset-cpus")) { r.cpu = r.cpu.value_or(oci::CpuResources{}); r.cpu->cpus = p.vm["cpuset-cpus"].as<std::string>(); }
  if (p.vm.count("cpuset-mems")) { r.cpu = r.cpu.value_or(oci::CpuResources{}); r.cpu->mems = p.vm["cpuset-mems"].as<std::string>(); }
  if (p.vm.count("blkio-weight") && p.vm["blkio-weight"].as<uint16_t>()) {
    r.block_io = oci::BlockIoResources{};
    r.block_io->weight = p.vm["blkio-weight"].as<uint16_t>();
  }
  runtime::container_update(g, id, r);
  return 0;
}

int cmd_events(const GlobalOptions& g, const Args& a) {
  po::options_description d("events options");
  d.add_options()("stats", po::bool_switch(), "print stats once and exit")(
      "interval", po::value<std::string>()->default_value("5s"), "stats interval");
  Parsed p = parse(a, d, "cryo events [--stats] [--interval 5s] <container-id>");
  if (p.help) return 0;
  std::string id = need_id(p, "events");
  if (opt<bool>(p, "stats", false)) {
    std::cout << runtime::container_stats(g, id).dump() << std::endl;
    return 0;
  }
  std::string iv = opt<std::string>(p, "interval", "5s");
  double seconds = std::stod(iv);
  if (iv.find("ms") != std::string::npos) seconds /= 1000;
  for (;;) {
    auto info = runtime::container_state(g, id);
    if (info.state.status == oci::Status::Stopped) return 0;
    std::cout << runtime::container_stats(g, id).dump() << std::endl;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }
}

int cmd_spec(const GlobalOptions&, const Args& a) {
  po::options_description d("spec options");
  d.add_options()("bundle,b", po::value<std::string>()->default_value("."), "where to write config.json")(
      "rootless", po::bool_switch(), "a config for an unprivileged user (user namespace)");
  Parsed p = parse(a, d, "cryo spec [--bundle DIR] [--rootless]");
  if (p.help) return 0;
  std::string path = opt<std::string>(p, "bundle", ".") + "/config.json";
  if (path_exists(path)) throw Error("File " + path + " exists. Remove it first.");
  write_file_atomic(path, oci::default_spec_json(opt<bool>(p, "rootless", false)).dump(2) + "\n", 0644);
  return 0;
}

int cmd_features(const GlobalOptions&, const Args& a) {
  Parsed p = parse(a, po::options_description("features options"), "cryo features");
  if (p.help) return 0;
  std::cout << features_json().dump(2) << std::endl;
  return 0;
}

char** original_argv = nullptr;

// checkpoint/restore live in cryo-checkpoint, installed next to cryo.
int delegate_to_checkpoint_binary(const GlobalOptions&, const Args&) {
  std::string helper = executable_dir() + "/cryo-checkpoint";
  ::execv(helper.c_str(), original_argv);
  throw SysError(errno, "exec `" + helper + "` (checkpoint and restore need cryo-checkpoint next to cryo)");
}

std::vector<Command>& registry() {
  static std::vector<Command> commands = {
      {"create", true, cmd_create},   {"run", true, cmd_run},         {"start", false, cmd_start},
      {"exec", true, cmd_exec},       {"kill", false, cmd_kill},      {"delete", false, cmd_delete},
      {"state", false, cmd_state},    {"list", false, cmd_list},      {"ps", false, cmd_ps},
      {"pause", false, cmd_pause},    {"resume", false, cmd_resume},  {"update", false, cmd_update},
      {"events", false, cmd_events},  {"spec", false, cmd_spec},      {"features", false, cmd_features},
      {"checkpoint", false, delegate_to_checkpoint_binary}, {"restore", false, delegate_to_checkpoint_binary}};
  return commands;
}

}  // namespace

void set_original_argv(char** argv) { original_argv = argv; }

void register_command(Command c) {
  for (auto& existing : registry())
    if (std::string(existing.name) == c.name) {
      existing = std::move(c);
      return;
    }
  registry().push_back(std::move(c));
}

const Command* find_command(const std::string& name) {
  for (auto& c : registry())
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace cryo::cli
