// Test support for integration tests: run the real binaries, build bundles on a busybox root.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cryo::testing {

struct Result {
  int code = -1;
  std::string out, err;
};

// Runs argv with stdin from /dev/null, capturing stdout and stderr.
Result run(const std::vector<std::string>& argv);
// Starts argv in the background (stdio /dev/null); returns its pid.
pid_t spawn(const std::vector<std::string>& argv);
int wait_exit(pid_t pid);

// A private temp directory removed (mounts detached first) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void copy_tree(const std::string& from, const std::string& to);
std::string read_text(const std::string& path);  // "" when missing
void write_text(const std::string& path, const std::string& text);
bool exists(const std::string& path);
// Polls `pred` every 20 ms for up to `seconds`.
bool eventually(const std::function<bool()>& pred, double seconds = 10);
long read_counter(const std::string& path);  // -1 when missing or empty

// `cryo spec` edited for tests: no terminal, writable root, the given args.
nlohmann::json test_config(const std::string& cryo, const std::string& dir, const std::vector<std::string>& args);

}  // namespace cryo::testing
