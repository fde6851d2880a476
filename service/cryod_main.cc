// cryod: the sandbox service daemon.
#include <signal.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "base/file.h"
#include "service/engine.h"
#include "service/log.h"
#include "service/server.h"
#include "service/testengine/memory_engine.h"

namespace po = boost::program_options;
using namespace cryo::service;

namespace {

std::string read_token(const std::string& path) {
  std::string token = cryo::read_file(path);
  while (!token.empty() && isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.size() < 16) throw cryo::Error("token file `" + path + "`: token must be at least 16 characters");
  return token;
}

// "127.0.0.1:8080" -> host, port
void parse_tcp(const std::string& spec, ServerOptions& opts) {
  auto colon = spec.rfind(':');
  if (colon == std::string::npos) throw cryo::Error("--tcp `" + spec + "`: expected HOST:PORT");
  opts.tcp_host = spec.substr(0, colon);
  if (opts.tcp_host.size() > 2 && opts.tcp_host.front() == '[') opts.tcp_host = opts.tcp_host.substr(1, opts.tcp_host.size() - 2);
  try {
    opts.tcp_port = std::stoi(spec.substr(colon + 1));
  } catch (const std::exception&) {
    throw cryo::Error("--tcp `" + spec + "`: bad port");
  }
  if (opts.tcp_port < 0 || opts.tcp_port > 65535) throw cryo::Error("--tcp `" + spec + "`: bad port");
}

int run(int argc, char** argv) {
  ServerOptions opts;
  std::string tcp, token_file, engine = "default";
  po::options_description visible(
      "cryod: the cryo sandbox service (HTTP/JSON API on a unix socket)\n\n"
      "Usage: cryod [--socket PATH] [--state-dir DIR] [--tcp 127.0.0.1:PORT --token-file FILE]\n\nOptions");
  visible.add_options()("help,h", "show this help")(
      "socket", po::value(&opts.socket_path)->default_value(opts.socket_path), "unix socket to serve (mode 0600)")(
      "state-dir", po::value(&opts.state_dir)->default_value(opts.state_dir), "catalogue and snapshot directory")(
      "tcp", po::value(&tcp), "also listen on loopback HOST:PORT (needs --token-file)")(
      "token-file", po::value(&token_file), "file holding the bearer token for TCP clients")(
      "max-file-mb", po::value<size_t>()->default_value(1024), "largest file upload, in MiB");
  po::options_description hidden;
  // Test-only: an engine without isolation, for exercising the API and the SDKs.
  hidden.add_options()("engine", po::value(&engine));
  po::options_description all;
  all.add(visible).add(hidden);
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, all), vm);
  if (vm.count("help")) {
    std::cout << visible << "\n";
    return 0;
  }
  po::notify(vm);
  opts.max_file_body = vm["max-file-mb"].as<size_t>() << 20;
  if (!tcp.empty()) parse_tcp(tcp, opts);
  if (!tcp.empty() && token_file.empty()) throw cryo::Error("--tcp needs --token-file");
  if (!token_file.empty()) opts.token = read_token(token_file);

  std::unique_ptr<SandboxEngine> eng;
  if (engine == "memory")
    eng = make_memory_engine(opts.state_dir + "/memory-engine");
  else if (engine == "default")
    eng = make_default_engine(opts.state_dir);
  else
    throw cryo::Error("--engine `" + engine + "`: unknown");

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Server server(opts, std::move(eng));
  server.start();
  nlohmann::json where = {{"socket", opts.socket_path}};
  if (!opts.tcp_host.empty()) where["tcp"] = opts.tcp_host + ":" + std::to_string(server.tcp_port());
  log_event("info", "listening", where);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_event("info", "stopping", {{"signal", sig}});
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const po::error& e) {
    std::cerr << "cryod: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    log_event("error", e.what());
    return 1;
  }
}
