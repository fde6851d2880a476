// cryoctl: command line client for cryod.
#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "service/client.h"
#include "service/cryoctl.h"

namespace po = boost::program_options;
using namespace cryo::service;

namespace {

constexpr const char* kUsage = R"(cryoctl: control the cryo sandbox service (cryod)

Usage: cryoctl [--socket PATH] [--json] COMMAND ...

Commands:
  sandbox create [--image I] [--snapshot SNAP] [--timeout S] [-e K=V]... [--cwd DIR]
                 [--cpus N] [--memory-mb N] [--pids N] [--disk-mb N] [--network]
                 [--meta K=V]...
  sandbox ls [--all]            sandbox get SBX            sandbox kill SBX
  exec SBX [-e K=V]... [--cwd DIR] [--user U] [--timeout S] -- CMD [ARG...]
                                (exit code of CMD is cryoctl's; stdin is forwarded when piped)
  files read SBX PATH [-o FILE] files write SBX PATH [-i FILE] [--mode 644]
  files ls SBX PATH             files rm SBX PATH [-r]     files mkdir SBX PATH
  snapshot create SBX           snapshot ls [--limit N] [--cursor C] [--all]
  snapshot get SNAP             snapshot rm SNAP
  snapshot export SNAP FILE     one archive: the snapshot, its image's layers, sha256 manifest
  snapshot import FILE          (keeps the snapshot id; refused when damaged or tampered with)
  image import PATH [--name N]  OCI image layout (dir or tar) or `docker save` archive on
                                cryod's host; layers are stored once by digest
  image ls                      image get NAME             image rm NAME (refused while in use)

The socket is --socket, else $CRYO_SOCKET, else /run/cryod/cryod.sock.

Examples:
  sbx=$(cryoctl sandbox create --timeout 600)
  cryoctl exec $sbx -- sh -c 'pip3 --version'
  echo hello | cryoctl files write $sbx /workspace/hello.txt
  snap=$(cryoctl snapshot create $sbx)
  cryoctl sandbox create --snapshot $snap
  cryoctl --json snapshot ls --limit 5
  cryoctl image import ./busybox-oci.tar --name busybox
  cryoctl sandbox create --image busybox
  cryoctl snapshot export $snap /tmp/snap.tar     # on another host: cryoctl snapshot import /tmp/snap.tar
)";

int run(int argc, char** argv) {
  // Everything after `--` is the command for `exec`, never options of ours.
  std::vector<std::string> words(argv + 1, argv + argc), after_dashes;
  for (size_t i = 0; i < words.size(); ++i)
    if (words[i] == "--") {
      after_dashes.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
      words.resize(i);
      break;
    }
  ctl::Globals g;
  const char* env_socket = std::getenv("CRYO_SOCKET");
  po::options_description global;
  global.add_options()("help,h", "")("json", "")("socket", po::value(&g.socket))(
      "group", po::value<std::string>())("rest", po::value<std::vector<std::string>>());
  po::positional_options_description pos;
  pos.add("group", 1).add("rest", -1);
  auto parsed = po::command_line_parser(words).options(global).positional(pos).allow_unregistered().run();
  po::variables_map vm;
  po::store(parsed, vm);
  po::notify(vm);
  if (vm.count("help") || !vm.count("group")) {
    std::cout << kUsage;
    return vm.count("help") ? 0 : 2;
  }
  g.json = vm.count("json") > 0;
  if (g.socket.empty()) g.socket = env_socket && *env_socket ? env_socket : "/run/cryod/cryod.sock";
  // The subcommand's own options and arguments, in their original order.
  auto rest = po::collect_unrecognized(parsed.options, po::include_positional);
  std::string group = vm["group"].as<std::string>();
  rest.erase(std::find(rest.begin(), rest.end(), group));
  if (group == "exec") return ctl::exec_command(g, rest, after_dashes);
  if (rest.empty()) throw po::error("`" + group + "` needs a subcommand");
  std::string verb = rest.front();
  rest.erase(rest.begin());
  if (group == "sandbox") return ctl::sandbox_command(g, verb, rest);
  if (group == "files") return ctl::files_command(g, verb, rest);
  if (group == "snapshot") return ctl::snapshot_command(g, verb, rest);
  if (group == "image") return ctl::image_command(g, verb, rest);
  throw po::error("unknown command `" + group + "`");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const po::error& e) {
    std::cerr << "cryoctl: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const ApiError& e) {
    std::cerr << "cryoctl: " << e.code() << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "cryoctl: " << e.what() << "\n";
    return 1;
  }
}
