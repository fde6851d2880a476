#include "service/tests/fake_engine.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/file.h"

namespace cryo::service::testing {
namespace {

std::string parent_of(const std::string& path) {
  auto p = std::filesystem::path(path).parent_path().string();
  return p.empty() ? "/" : p;
}

FileEntry make_entry(const std::string& path, const std::string& type, int64_t size, uint32_t mode) {
  FileEntry e;
  e.path = path;
  e.name = std::filesystem::path(path).filename();
  e.type = type;
  e.size = size;
  e.mode = mode;
  e.mtime = 1700000000;
  return e;
}

}  // namespace

size_t FakeWorld::count_calls(const std::string& prefix) {
  std::lock_guard lock(mu);
  size_t n = 0;
  for (auto& c : calls) n += c.starts_with(prefix);
  return n;
}

void FakeWorld::emit(const std::string& sbx, const std::string& cid, bool to_stderr, const std::string& data) {
  std::shared_ptr<FakeCommand> c;
  {
    std::lock_guard lock(mu);
    c = commands.at(sbx + "/" + cid);
  }
  (to_stderr ? c->sink.on_stderr : c->sink.on_stdout)(data);
}

void FakeWorld::finish(const std::string& sbx, const std::string& cid, int exit_code) {
  std::shared_ptr<FakeCommand> c;
  {
    std::lock_guard lock(mu);
    c = commands.at(sbx + "/" + cid);
    if (c->finished) return;
    c->finished = true;
  }
  c->sink.on_exit(exit_code);
}

FakeBox& FakeEngine::box(const std::string& id) {
  auto it = w_->boxes.find(id);
  if (it == w_->boxes.end()) throw NotFound("fake: sandbox `" + id + "` not found");
  return it->second;
}

void FakeEngine::create(const std::string& id, const SandboxSpec& spec) {
  FakeBox b;
  b.spec = spec;
  if (!spec.snapshot_dir.empty()) {
    auto j = nlohmann::json::parse(cryo::read_file(spec.snapshot_dir + "/files.json"));
    for (auto& [path, data] : j.items()) b.files[path] = {data.get<std::string>(), 0644};
  }
  std::lock_guard lock(w_->mu);
  w_->calls.push_back("create " + id + (spec.snapshot_dir.empty() ? "" : " from " + spec.snapshot_dir));
  w_->boxes[id] = std::move(b);
}

CommandResult FakeEngine::run(const std::string& id, const CommandSpec& spec, const OutputSink&) {
  {
    std::lock_guard lock(w_->mu);
    box(id);
    w_->calls.push_back("run " + id);
  }
  CommandResult r;
  r.stdout_data = spec.argv.back();
  r.stderr_data = spec.stdin_data;
  r.exit_code = spec.env.count("EXIT_CODE") ? std::stoi(spec.env.at("EXIT_CODE")) : 0;
  if (spec.env.count("SLEEP_MS")) {
    int ms = std::stoi(spec.env.at("SLEEP_MS"));
    if (spec.timeout_s * 1000 < ms) throw Timeout("fake: command timed out after " + std::to_string(spec.timeout_s) + "s");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  return r;
}

std::string FakeEngine::start_command(const std::string& id, const CommandSpec&, OutputSink sink) {
  std::lock_guard lock(w_->mu);
  box(id);
  std::string cid = "cmd-" + std::to_string(w_->next_command++);
  auto c = std::make_shared<FakeCommand>();
  c->sink = std::move(sink);
  w_->commands[id + "/" + cid] = c;
  w_->calls.push_back("start " + id + " " + cid);
  return cid;
}

void FakeEngine::write_stdin(const std::string& id, const std::string& cid, std::string_view data, bool close) {
  std::shared_ptr<FakeCommand> c;
  {
    std::lock_guard lock(w_->mu);
    auto it = w_->commands.find(id + "/" + cid);
    if (it == w_->commands.end()) throw NotFound("fake: command `" + cid + "` not found");
    c = it->second;
    c->stdin_data.append(data);
  }
  // Behaves like `cat`: echoes stdin, exits 0 when stdin closes.
  if (!data.empty()) c->sink.on_stdout(data);
  if (close) w_->finish(id, cid, 0);
}

void FakeEngine::kill_command(const std::string& id, const std::string& cid, int sig) {
  {
    std::lock_guard lock(w_->mu);
    auto it = w_->commands.find(id + "/" + cid);
    if (it == w_->commands.end()) throw NotFound("fake: command `" + cid + "` not found");
    it->second->signals.push_back(sig);
  }
  w_->finish(id, cid, 128 + sig);
}

std::vector<std::string> FakeEngine::list_commands(const std::string& id) {
  std::lock_guard lock(w_->mu);
  std::vector<std::string> out;
  for (auto& [key, c] : w_->commands)
    if (key.starts_with(id + "/") && !c->finished) out.push_back(key.substr(id.size() + 1));
  return out;
}

std::string FakeEngine::read_file(const std::string& id, const std::string& path) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  auto it = b.files.find(path);
  if (it == b.files.end()) throw NotFound("path `" + path + "` not found");
  return it->second.data;
}

void FakeEngine::write_file(const std::string& id, const std::string& path, std::string_view data, uint32_t mode) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  if (!b.dirs.count(parent_of(path))) throw NotFound("path `" + parent_of(path) + "` not found");
  b.files[path] = {std::string(data), mode};
}

std::vector<FileEntry> FakeEngine::list_dir(const std::string& id, const std::string& path) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  if (!b.dirs.count(path)) throw NotFound("path `" + path + "` not found");
  std::vector<FileEntry> out;
  for (auto& d : b.dirs)
    if (d != "/" && parent_of(d) == path) out.push_back(make_entry(d, "dir", 0, 0755));
  for (auto& [p, f] : b.files)
    if (parent_of(p) == path) out.push_back(make_entry(p, "file", static_cast<int64_t>(f.data.size()), f.mode));
  return out;
}

FileEntry FakeEngine::stat(const std::string& id, const std::string& path) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  if (b.dirs.count(path)) return make_entry(path, "dir", 0, 0755);
  auto it = b.files.find(path);
  if (it == b.files.end()) throw NotFound("path `" + path + "` not found");
  return make_entry(path, "file", static_cast<int64_t>(it->second.data.size()), it->second.mode);
}

void FakeEngine::remove(const std::string& id, const std::string& path, bool recursive) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  if (b.files.erase(path)) return;
  if (!b.dirs.count(path)) throw NotFound("path `" + path + "` not found");
  bool has_children = false;
  for (auto& [p, f] : b.files) has_children |= p.starts_with(path + "/");
  for (auto& d : b.dirs) has_children |= d.starts_with(path + "/");
  if (has_children && !recursive) throw Conflict("path `" + path + "`: directory not empty");
  std::erase_if(b.files, [&](auto& kv) { return kv.first.starts_with(path + "/"); });
  std::erase_if(b.dirs, [&](auto& d) { return d == path || d.starts_with(path + "/"); });
}

void FakeEngine::make_dir(const std::string& id, const std::string& path) {
  std::lock_guard lock(w_->mu);
  auto& b = box(id);
  for (std::string p = path; p != "/"; p = parent_of(p)) b.dirs.insert(p);
}

void FakeEngine::snapshot(const std::string& id, const std::string& dir) {
  nlohmann::json files = nlohmann::json::object();
  bool fail;
  {
    std::lock_guard lock(w_->mu);
    for (auto& [p, f] : box(id).files) files[p] = f.data;
    w_->calls.push_back("snapshot " + id + " " + dir);
    fail = w_->fail_snapshot;
  }
  // Writes part of the snapshot before failing, as a real dump interrupted midway would.
  write_file_atomic(dir + "/files.json", files.dump());
  if (fail) throw cryo::Error("fake: injected snapshot failure");
  write_file_atomic(dir + "/pages.img", std::string(4096, 'p'));
}

void FakeEngine::kill(const std::string& id) {
  std::vector<std::pair<std::string, std::string>> open;
  {
    std::lock_guard lock(w_->mu);
    w_->calls.push_back("kill " + id);
    if (!w_->boxes.erase(id)) throw NotFound("fake: sandbox `" + id + "` not found");
    for (auto& [key, c] : w_->commands)
      if (key.starts_with(id + "/") && !c->finished) open.emplace_back(id, key.substr(id.size() + 1));
  }
  for (auto& [sbx, cid] : open) w_->finish(sbx, cid, 137);
}

bool FakeEngine::alive(const std::string& id) {
  std::lock_guard lock(w_->mu);
  return w_->boxes.count(id) > 0;
}

std::vector<std::string> FakeEngine::running() {
  std::lock_guard lock(w_->mu);
  std::vector<std::string> out;
  for (auto& [id, b] : w_->boxes) out.push_back(id);
  return out;
}

}  // namespace cryo::service::testing
