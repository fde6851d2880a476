// A recording Syscalls double: an in-memory tree of files and directories plus an ordered log of
// every call, so cgroup logic can be checked without root.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/syscalls.h"

namespace cryo::runtime::testing {

class FakeSyscalls final : public Syscalls {
 public:
  struct Write {
    std::string path, data;
  };

  std::vector<std::string> log;    // "mkdir /a", "write /a/f=v", "rmdir /a", ...
  std::vector<Write> writes;       // in order
  std::map<std::string, std::string> files;
  std::set<std::string> dirs;
  std::map<std::string, int> fail_writes;  // path -> errno for its next write
  // Called after each successful write: lets a test play the kernel (e.g. freezer state).
  std::function<void(const std::string& path, const std::string& data)> on_write;
  // Called before each read: lets a test change what the kernel reports over time.
  std::function<void(const std::string& path)> on_read;
  // Called after each mkdir: lets a test create the files the kernel puts in a new cgroup.
  std::function<void(const std::string& path)> on_mkdir;

  void mkdir(const std::string& path, mode_t) override {
    log.push_back("mkdir " + path);
    dirs.insert(path);
    if (on_mkdir) on_mkdir(path);
  }
  void write_file(const std::string& path, const std::string& data) override {
    auto f = fail_writes.find(path);
    if (f != fail_writes.end()) {
      int err = f->second;
      fail_writes.erase(f);
      log.push_back("write-failed " + path + "=" + data);
      throw SysError(err, "write `" + path + "`");
    }
    log.push_back("write " + path + "=" + data);
    writes.push_back({path, data});
    files[path] = data;
    if (on_write) on_write(path, data);
  }
  std::optional<std::string> read_file(const std::string& path) override {
    if (on_read) on_read(path);
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
  bool exists(const std::string& path) override { return files.count(path) || dirs.count(path); }
  bool is_dir(const std::string& path) override { return dirs.count(path) > 0; }
  void rmdir(const std::string& path) override {
    log.push_back("rmdir " + path);
    dirs.erase(path);
  }

  // The value last written to `path`, or "<unset>".
  std::string written(const std::string& path) const {
    for (auto it = writes.rbegin(); it != writes.rend(); ++it)
      if (it->path == path) return it->data;
    return "<unset>";
  }
  // Position of the first write to `path` in `writes`, or -1.
  int write_index(const std::string& path) const {
    for (size_t i = 0; i < writes.size(); ++i)
      if (writes[i].path == path) return static_cast<int>(i);
    return -1;
  }
  // Every path written, in order.
  std::vector<std::string> written_paths() const {
    std::vector<std::string> out;
    for (auto& w : writes) out.push_back(w.path);
    return out;
  }
};

}  // namespace cryo::runtime::testing
