// `cryo checkpoint` and `cryo restore`, with runc's flags.
#include <iostream>

#include "runtime/cli/args.h"
#include "runtime/cli/commands.h"

namespace cryo::cli {
namespace {

using Args = std::vector<std::string>;

po::options_description shared_options(const char* title) {
  po::options_description d(title);
  d.add_options()("help,h", "show help")("image-path", po::value<std::string>(), "checkpoint image directory")(
      "work-path", po::value<std::string>(), "CRIU's log and scratch directory")(
      "tcp-established", po::bool_switch(), "allow open TCP connections")(
      "ext-unix-sk", po::bool_switch(), "allow external unix sockets")("shell-job", po::bool_switch(), "allow shell jobs")(
      "file-locks", po::bool_switch(), "handle file locks")("lazy-pages", po::bool_switch(), "use userfaultfd lazy pages")(
      "manage-cgroups-mode", po::value<std::string>()->default_value(""), "soft|full|strict|ignore")(
      "empty-ns", po::value<Args>()->composing(), "namespaces to create empty (network)");
  return d;
}

template <typename T>
T get(const po::variables_map& vm, const char* name, T fallback) {
  return vm.count(name) ? vm[name].as<T>() : fallback;
}

bool usage(const po::variables_map& vm, const po::options_description& d, const char* text) {
  if (!vm.count("help")) return false;
  std::cout << "usage: " << text << "\n\n" << d;
  return true;
}

}  // namespace

int cmd_checkpoint(const runtime::GlobalOptions& g, const Args& a) {
  po::options_description d = shared_options("checkpoint options");
  d.add_options()("parent-path", po::value<std::string>(), "previous pre-dump, relative to the image path")(
      "leave-running", po::bool_switch(), "keep the container running after the dump")(
      "tcp-skip-in-flight", po::bool_switch(), "skip in-flight TCP connections")(
      "link-remap", po::bool_switch(), "allow link remaps")("pre-dump", po::bool_switch(), "a pre-dump only")(
      "auto-dedup", po::bool_switch(), "deduplicate against the parent")(
      "page-server", po::value<std::string>(), "ADDRESS:PORT of a CRIU page server")(
      "status-fd", po::value<int>(), "fd CRIU writes to when the dump is done");
  po::variables_map vm;
  SplitArgs split = split_args(a, d);
  parse_options(split, d, vm);
  if (usage(vm, d, "cryo checkpoint [options] <container-id>\n\nexamples:\n"
                   "  cryo checkpoint --image-path /tmp/ck --leave-running mycontainer\n"
                   "  cryo restore --image-path /tmp/ck --bundle /path/to/bundle clone1"))
    return 0;
  if (split.positional.empty()) throw Error("checkpoint: a container id is required");
  runtime::CheckpointOptions o;
  o.id = split.positional[0];
  o.image_path = get<std::string>(vm, "image-path", "checkpoint");
  o.work_path = get<std::string>(vm, "work-path", "");
  o.parent_path = get<std::string>(vm, "parent-path", "");
  o.leave_running = vm["leave-running"].as<bool>();
  o.tcp_established = vm["tcp-established"].as<bool>();
  o.tcp_skip_in_flight = vm["tcp-skip-in-flight"].as<bool>();
  o.ext_unix_sk = vm["ext-unix-sk"].as<bool>();
  o.shell_job = vm["shell-job"].as<bool>();
  o.file_locks = vm["file-locks"].as<bool>();
  o.link_remap = vm["link-remap"].as<bool>();
  o.pre_dump = vm["pre-dump"].as<bool>();
  o.auto_dedup = vm["auto-dedup"].as<bool>();
  o.lazy_pages = vm["lazy-pages"].as<bool>();
  o.manage_cgroups_mode = vm["manage-cgroups-mode"].as<std::string>();
  o.page_server = get<std::string>(vm, "page-server", "");
  o.status_fd = get<int>(vm, "status-fd", -1);
  o.empty_ns = get<Args>(vm, "empty-ns", {});
  runtime::container_checkpoint(g, o);
  return 0;
}

int cmd_restore(const runtime::GlobalOptions& g, const Args& a) {
  po::options_description d = shared_options("restore options");
  d.add_options()("bundle,b", po::value<std::string>()->default_value("."), "bundle directory")(
      "detach,d", po::bool_switch(), "do not wait for the container")(
      "pid-file", po::value<std::string>(), "write the restored init's pid here")(
      "console-socket", po::value<std::string>(), "unix socket that receives the pty master")(
      "no-subreaper", po::bool_switch(), "ignored")("no-pivot", po::bool_switch(), "ignored (CRIU sets the root)")(
      "auto-dedup", po::bool_switch(), "ignored")("lsm-profile", po::value<std::string>(), "ignored")(
      "lsm-mount-context", po::value<std::string>(), "ignored");
  po::variables_map vm;
  SplitArgs split = split_args(a, d);
  parse_options(split, d, vm);
  if (usage(vm, d, "cryo restore [options] <container-id>\n\nexample:\n"
                   "  cryo restore -d --image-path /tmp/ck --bundle /path/to/bundle clone1"))
    return 0;
  if (split.positional.empty()) throw Error("restore: a container id is required");
  runtime::RestoreOptions o;
  o.id = split.positional[0];
  o.image_path = get<std::string>(vm, "image-path", "checkpoint");
  o.work_path = get<std::string>(vm, "work-path", "");
  o.bundle = vm["bundle"].as<std::string>();
  o.pid_file = get<std::string>(vm, "pid-file", "");
  o.console_socket = get<std::string>(vm, "console-socket", "");
  o.detach = vm["detach"].as<bool>();
  o.no_subreaper = vm["no-subreaper"].as<bool>();
  o.no_pivot = vm["no-pivot"].as<bool>();
  o.tcp_established = vm["tcp-established"].as<bool>();
  o.ext_unix_sk = vm["ext-unix-sk"].as<bool>();
  o.shell_job = vm["shell-job"].as<bool>();
  o.file_locks = vm["file-locks"].as<bool>();
  o.lazy_pages = vm["lazy-pages"].as<bool>();
  o.manage_cgroups_mode = vm["manage-cgroups-mode"].as<std::string>();
  o.empty_ns = get<Args>(vm, "empty-ns", {});
  return runtime::container_restore(g, o);
}

void register_checkpoint_commands() {
  register_command({"checkpoint", false, cmd_checkpoint});
  register_command({"restore", false, cmd_restore});
}

}  // namespace cryo::cli
