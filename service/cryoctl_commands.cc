#include <unistd.h>

#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <iterator>

#include "base/file.h"
#include "service/client.h"
#include "service/cryoctl.h"
#include "service/progress.h"

namespace cryo::service::ctl {
namespace {

namespace po = boost::program_options;
using json = nlohmann::json;

// Parses a subcommand's options; `positional` names the positional arguments in order.
po::variables_map parse(const std::vector<std::string>& args, const po::options_description& opts,
                        const std::vector<std::string>& positional) {
  po::positional_options_description pos;
  for (auto& p : positional) pos.add(p.c_str(), 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
  po::notify(vm);
  for (auto& p : positional)
    if (!vm.count(p)) throw po::error("missing argument " + p);
  return vm;
}

// K=V pairs into a JSON object; `what` names the option in errors.
json pairs(const std::vector<std::string>& items, const std::string& what) {
  json out = json::object();
  for (auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw po::error(what + " `" + item + "`: expected KEY=VALUE");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

void print_json(const json& j) { std::cout << j.dump(2) << "\n"; }

void print_sandbox_row(const json& s) {
  std::cout << std::left << std::setw(22) << s.value("sandbox_id", "") << std::setw(11) << s.value("state", "")
            << std::setw(16) << s.value("image", "") << s.value("created_at", "") << "\n";
}

void print_snapshot_row(const json& s) {
  std::cout << std::left << std::setw(23) << s.value("snapshot_id", "") << std::setw(22) << s.value("sandbox_id", "")
            << std::setw(22) << s.value("created_at", "") << s.value("size_bytes", 0) << "\n";
}

std::string sandbox_path(const std::string& id) { return "/v1/sandboxes/" + Client::encode(id); }

}  // namespace

int sandbox_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args) {
  Client c(g.socket);
  if (verb == "create") {
    po::options_description opts("sandbox create options");
    std::vector<std::string> envs, meta;
    opts.add_options()("image", po::value<std::string>(), "image name")(
        "snapshot", po::value<std::string>(), "restore from this snapshot id")(
        "timeout", po::value<double>(), "kill the sandbox after this many seconds")(
        "env,e", po::value(&envs)->composing(), "KEY=VALUE environment (repeatable)")(
        "cwd", po::value<std::string>(), "working directory")("cpus", po::value<double>(), "CPU limit")(
        "memory-mb", po::value<int64_t>(), "memory limit in MiB")("pids", po::value<int64_t>(), "process limit")(
        "disk-mb", po::value<int64_t>(), "writable layer size in MiB (default 2048)")(
        "network", "give the sandbox network access")("meta", po::value(&meta)->composing(), "KEY=VALUE metadata");
    auto vm = parse(args, opts, {});
    json body = json::object();
    if (vm.count("image")) body["image"] = vm["image"].as<std::string>();
    if (vm.count("snapshot")) body["snapshot_id"] = vm["snapshot"].as<std::string>();
    if (vm.count("timeout")) body["timeout"] = vm["timeout"].as<double>();
    if (!envs.empty()) body["envs"] = pairs(envs, "--env");
    if (vm.count("cwd")) body["cwd"] = vm["cwd"].as<std::string>();
    if (vm.count("cpus")) body["cpus"] = vm["cpus"].as<double>();
    if (vm.count("memory-mb")) body["memory_mb"] = vm["memory-mb"].as<int64_t>();
    if (vm.count("pids")) body["pids"] = vm["pids"].as<int64_t>();
    if (vm.count("disk-mb")) body["disk_mb"] = vm["disk-mb"].as<int64_t>();
    if (vm.count("network")) body["network"] = true;
    if (!meta.empty()) body["metadata"] = pairs(meta, "--meta");
    auto s = c.post("/v1/sandboxes", body);
    if (g.json)
      print_json(s);
    else
      std::cout << s.value("sandbox_id", "") << "\n";
    return 0;
  }
  if (verb == "ls") {
    po::options_description opts("sandbox ls options");
    opts.add_options()("all,a", "include stopped sandboxes");
    auto vm = parse(args, opts, {});
    auto r = c.get(std::string("/v1/sandboxes") + (vm.count("all") ? "?all=true" : ""));
    if (g.json) return print_json(r["sandboxes"]), 0;
    for (auto& s : r["sandboxes"]) print_sandbox_row(s);
    return 0;
  }
  if (verb == "get" || verb == "kill") {
    po::options_description opts("sandbox " + verb + " options");
    opts.add_options()("id", po::value<std::string>()->required(), "sandbox id");
    auto vm = parse(args, opts, {"id"});
    auto path = sandbox_path(vm["id"].as<std::string>());
    auto s = verb == "get" ? c.get(path) : c.del(path);
    if (g.json || verb == "get")
      print_json(s);
    else
      std::cout << s.value("sandbox_id", "") << " " << s.value("state", "") << "\n";
    return 0;
  }
  throw po::error("unknown command `sandbox " + verb + "`");
}

int exec_command(const Globals& g, const std::vector<std::string>& args, const std::vector<std::string>& argv) {
  po::options_description opts("exec options");
  std::vector<std::string> envs;
  opts.add_options()("id", po::value<std::string>(), "sandbox id")("env,e", po::value(&envs)->composing(), "KEY=VALUE")(
      "cwd", po::value<std::string>(), "working directory")("user", po::value<std::string>(), "user to run as")(
      "timeout", po::value<double>()->default_value(60), "seconds before the command is killed");
  auto vm = parse(args, opts, {"id"});
  if (argv.empty()) throw po::error("exec: give the command after `--`");
  json body = {{"argv", argv}, {"timeout", vm["timeout"].as<double>()}};
  if (!envs.empty()) body["envs"] = pairs(envs, "--env");
  if (vm.count("cwd")) body["cwd"] = vm["cwd"].as<std::string>();
  if (vm.count("user")) body["user"] = vm["user"].as<std::string>();
  if (!isatty(STDIN_FILENO)) body["stdin"] = read_fd(STDIN_FILENO);
  Client c(g.socket);
  auto r = c.post(sandbox_path(vm["id"].as<std::string>()) + "/commands", body);
  if (g.json) {
    print_json(r);
  } else {
    std::cout << r.value("stdout", "");
    std::cerr << r.value("stderr", "");
    if (r.value("timed_out", false)) std::cerr << "cryoctl: command timed out\n";
  }
  return r.value("exit_code", 1) & 0xff;
}

int files_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args) {
  po::options_description opts("files " + verb + " options");
  opts.add_options()("id", po::value<std::string>(), "sandbox id")("path", po::value<std::string>(), "path in the sandbox");
  if (verb == "write")
    opts.add_options()("input,i", po::value<std::string>(), "local file to upload (default: stdin)")(
        "mode", po::value<std::string>()->default_value("644"), "octal permissions");
  if (verb == "read") opts.add_options()("output,o", po::value<std::string>(), "local file to write (default: stdout)");
  if (verb == "rm") opts.add_options()("recursive,r", "remove directories and their contents");
  auto vm = parse(args, opts, {"id", "path"});
  std::string base = sandbox_path(vm["id"].as<std::string>()) + "/files";
  std::string path = "path=" + Client::encode(vm["path"].as<std::string>());
  Client c(g.socket);
  if (verb == "read") {
    auto data = c.get_bytes(base + "?" + path);
    if (vm.count("output"))
      write_file_atomic(vm["output"].as<std::string>(), data);
    else
      std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    return 0;
  }
  if (verb == "write") {
    std::string data = vm.count("input") ? read_file(vm["input"].as<std::string>()) : read_fd(STDIN_FILENO);
    c.put_bytes(base + "?" + path + "&mode=" + vm["mode"].as<std::string>(), data);
    return 0;
  }
  if (verb == "ls") {
    auto r = c.get(base + "/list?" + path);
    if (g.json) return print_json(r["entries"]), 0;
    for (auto& e : r["entries"])
      std::cout << std::left << std::setw(8) << e.value("type", "") << std::setw(12) << e.value("size", 0)
                << e.value("name", "") << "\n";
    return 0;
  }
  if (verb == "rm") {
    c.del(base + "?" + path + (vm.count("recursive") ? "&recursive=true" : ""));
    return 0;
  }
  if (verb == "mkdir") {
    c.post(base + "/mkdir?" + path);
    return 0;
  }
  throw po::error("unknown command `files " + verb + "`");
}

int snapshot_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args) {
  Client c(g.socket);
  if (verb == "create") {
    po::options_description opts("snapshot create options");
    opts.add_options()("id", po::value<std::string>(), "sandbox id");
    auto vm = parse(args, opts, {"id"});
    std::string id = vm["id"].as<std::string>();
    json s;
    {
      Spinner spin("snapshotting " + id);
      s = c.post(sandbox_path(id) + "/snapshots");
    }
    if (g.json)
      print_json(s);
    else
      std::cout << s.value("snapshot_id", "") << "\n";
    return 0;
  }
  if (verb == "ls") {
    po::options_description opts("snapshot ls options");
    opts.add_options()("limit", po::value<int>()->default_value(20), "page size")(
        "cursor", po::value<std::string>(), "continue from a previous page")("all,a", "fetch every page");
    auto vm = parse(args, opts, {});
    json all = json::array();
    std::string cursor = vm.count("cursor") ? vm["cursor"].as<std::string>() : "";
    json page;
    do {
      std::string q = "/v1/snapshots?limit=" + std::to_string(vm["limit"].as<int>());
      if (!cursor.empty()) q += "&cursor=" + Client::encode(cursor);
      page = c.get(q);
      for (auto& s : page["snapshots"]) all.push_back(s);
      cursor = page["next_cursor"].is_string() ? page["next_cursor"].get<std::string>() : "";
    } while (vm.count("all") && !cursor.empty());
    if (g.json) {
      print_json(vm.count("all") ? json{{"snapshots", all}, {"next_cursor", nullptr}} : page);
      return 0;
    }
    for (auto& s : all) print_snapshot_row(s);
    if (!cursor.empty()) std::cerr << "more: --cursor " << cursor << "\n";
    return 0;
  }
  if (verb == "get" || verb == "rm") {
    po::options_description opts("snapshot " + verb + " options");
    opts.add_options()("id", po::value<std::string>(), "snapshot id");
    auto vm = parse(args, opts, {"id"});
    std::string path = "/v1/snapshots/" + Client::encode(vm["id"].as<std::string>());
    if (verb == "get") return print_json(c.get(path)), 0;
    c.del(path);
    return 0;
  }
  if (verb == "export") {
    po::options_description opts("snapshot export options");
    opts.add_options()("id", po::value<std::string>(), "snapshot id")("file", po::value<std::string>(), "archive to write");
    auto vm = parse(args, opts, {"id", "file"});
    std::string id = vm["id"].as<std::string>(), file = vm["file"].as<std::string>();
    {
      ByteProgress progress("exporting " + id);
      c.download("/v1/snapshots/" + Client::encode(id) + "/export", file, [&](int64_t n) { progress.set(n); });
    }
    if (g.json) print_json({{"snapshot_id", id}, {"file", file}});
    return 0;
  }
  if (verb == "import") {
    po::options_description opts("snapshot import options");
    opts.add_options()("file", po::value<std::string>(), "archive made by `snapshot export`");
    auto vm = parse(args, opts, {"file"});
    std::string file = vm["file"].as<std::string>();
    json s;
    {
      struct stat st {};
      ::stat(file.c_str(), &st);
      ByteProgress progress("importing " + file, st.st_size);
      s = c.upload("/v1/snapshots/import", file, [&](int64_t n) { progress.set(n); });
    }
    if (g.json)
      print_json(s);
    else
      std::cout << s.value("snapshot_id", "") << "\n";
    return 0;
  }
  throw po::error("unknown command `snapshot " + verb + "`");
}

int image_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args) {
  Client c(g.socket);
  if (verb == "import") {
    po::options_description opts("image import options");
    opts.add_options()("path", po::value<std::string>(), "OCI image layout (dir or tar) or `docker save` archive")(
        "name", po::value<std::string>(), "name for the image (default: from the file name)");
    auto vm = parse(args, opts, {"path"});
    // cryod reads the file itself: it must be on cryod's host, given as an absolute path.
    std::string path = std::filesystem::absolute(vm["path"].as<std::string>()).lexically_normal().string();
    json body = {{"path", path}};
    if (vm.count("name")) body["name"] = vm["name"].as<std::string>();
    json img;
    {
      Spinner spin("importing " + path);
      img = c.post("/v1/images", body);
    }
    if (g.json)
      print_json(img);
    else
      std::cout << img.value("name", "") << "\n";
    return 0;
  }
  if (verb == "ls") {
    auto vm = parse(args, po::options_description("image ls options"), {});
    auto r = c.get("/v1/images");
    if (g.json) return print_json(r["images"]), 0;
    for (auto& i : r["images"]) {
      std::string digest = i.value("digest", "");
      std::cout << std::left << std::setw(28) << i.value("name", "") << std::setw(21)
                << digest.substr(0, std::min<size_t>(digest.size(), 19)) << std::setw(8) << i["layers"].size()
                << std::setw(12) << i.value("size_bytes", 0) << i.value("created_at", "") << "\n";
    }
    return 0;
  }
  if (verb == "get" || verb == "rm") {
    po::options_description opts("image " + verb + " options");
    opts.add_options()("name", po::value<std::string>(), "image name");
    auto vm = parse(args, opts, {"name"});
    std::string path = "/v1/images/" + Client::encode(vm["name"].as<std::string>());
    if (verb == "get") return print_json(c.get(path)), 0;
    c.del(path);
    return 0;
  }
  throw po::error("unknown command `image " + verb + "`");
}

}  // namespace cryo::service::ctl
