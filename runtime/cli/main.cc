// `cryo`: the runc-compatible command line. A thin layer: parse flags, call runtime/, print.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "base/file.h"
#include "oci/spec.h"
#include "runtime/cli/args.h"
#include "runtime/cli/commands.h"
#include "runtime/container.h"
#include "runtime/sealed_exe.h"
#include "runtime/state_store.h"

namespace cryo::cli {
namespace {

struct Global {
  runtime::GlobalOptions runtime;
  std::string log, log_format = "text";
  bool debug = false;
};

po::options_description global_options() {
  po::options_description d("global options");
  d.add_options()("help,h", "show help")("version,v", "print the version")(
      "root", po::value<std::string>()->default_value("/run/cryo"), "state directory")(
      "log", po::value<std::string>()->default_value(""), "log file (default: stderr)")(
      "log-format", po::value<std::string>()->default_value("text"), "text or json")(
      "debug", po::bool_switch(), "verbose logging")(
      "criu", po::value<std::string>()->default_value(""), "path to criu (default: /usr/local/sbin/criu or criu on PATH)")(
      "systemd-cgroup", po::bool_switch(), "use systemd for cgroups (not supported)")(
      "rootless", po::value<std::string>()->default_value("auto"), "ignored: cryo runs as root");
  return d;
}

// Errors go to stderr and, with --log, to the log file in the format the shim reads.
void log_error(const Global& g, const std::string& msg) {
  std::cerr << "cryo: " << msg << std::endl;
  if (g.log.empty()) return;
  std::ofstream out(g.log, std::ios::app);
  if (g.log_format == "json") {
    out << nlohmann::json{{"level", "error"}, {"msg", msg}, {"time", runtime::rfc3339_now()}}.dump() << "\n";
  } else {
    out << "time=\"" << runtime::rfc3339_now() << "\" level=error msg=\"" << msg << "\"\n";
  }
}

const char* kUsage =
    "usage: cryo [global options] COMMAND [options] [arguments]\n\n"
    "cryo is an OCI container runtime with live snapshots, runc-compatible.\n\n"
    "commands:\n"
    "  create      create a container (its process waits for `start`)\n"
    "  start       start a created container\n"
    "  run         create and start a container\n"
    "  exec        run a new process inside a container\n"
    "  kill        send a signal to a container's init (or all its processes)\n"
    "  delete      delete a container\n"
    "  state       print a container's state as JSON\n"
    "  list        list containers\n"
    "  ps          list a container's processes\n"
    "  pause       freeze all processes of a container\n"
    "  resume      thaw a paused container\n"
    "  update      change a container's resource limits\n"
    "  events      print container stats and events\n"
    "  spec        write a default config.json\n"
    "  features    print what this runtime supports, as JSON\n"
    "  checkpoint  checkpoint a running container with CRIU\n"
    "  restore     restore a container from a checkpoint\n\n"
    "examples:\n"
    "  cryo spec && cryo run -b /path/to/bundle mycontainer\n"
    "  cryo --root /run/cryo list --format json\n";

}  // namespace

int main_impl(int argc, char** argv) {
  set_original_argv(argv);
#ifdef CRYO_CHECKPOINT_BINARY
  register_checkpoint_commands();
#endif
  std::vector<std::string> args(argv + 1, argv + argc);
  po::options_description gdesc = global_options();
  SplitArgs top = split_args(args, gdesc);
  po::variables_map gvm;
  Global g;
  try {
    parse_options(top, gdesc, gvm);
    g.runtime.root = gvm["root"].as<std::string>();
    g.runtime.criu = gvm["criu"].as<std::string>();
    g.log = gvm["log"].as<std::string>();
    g.log_format = gvm["log-format"].as<std::string>();
    g.debug = gvm["debug"].as<bool>();
    if (g.log_format != "text" && g.log_format != "json") throw Error("--log-format: must be text or json");
  } catch (const std::exception& e) {
    log_error(g, e.what());
    return 1;
  }
  if (gvm.count("version")) {
    std::cout << "cryo version 0.1.0\nspec: 1.2.0\n";
    return 0;
  }
  if (top.positional.empty() || gvm.count("help")) {
    std::cout << kUsage << "\n" << gdesc;
    return top.positional.empty() && !gvm.count("help") ? 1 : 0;
  }
  std::string name = top.positional[0];
  std::vector<std::string> rest(top.positional.begin() + 1, top.positional.end());
  try {
    if (gvm["systemd-cgroup"].as<bool>())
      throw Error("--systemd-cgroup: cryo manages cgroups directly (cgroupfs); the systemd driver is not supported");
    const Command* cmd = find_command(name);
    if (!cmd) throw Error("unknown command `" + name + "` (see `cryo --help`)");
    if (cmd->enters_container) runtime::ensure_sealed_exe(argv);
    return cmd->run(g.runtime, rest);
  } catch (const std::exception& e) {
    log_error(g, e.what());
    return 1;
  }
}

}  // namespace cryo::cli

int main(int argc, char** argv) { return cryo::cli::main_impl(argc, argv); }
