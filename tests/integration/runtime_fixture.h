// The fixture of the runtime integration tests: a bundle on a private copy of the busybox root,
// a private --root, and the real `cryo` binary run as a child process. TearDown removes every
// container a test made (even after a failed assertion) and checks nothing was left behind.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace cryo::it {

struct Outcome {
  int code = -1;  // exit status, or 128+signal
  std::string out, err;
  std::string text() const { return "exit " + std::to_string(code) + "\nstdout: " + out + "\nstderr: " + err; }
};

struct Spawned {
  pid_t pid = -1;
  std::string out_path, err_path;
};

struct RunOptions {
  std::string stdin_data;
  std::map<int, int> fds;  // child fd -> our fd, inherited without close-on-exec
  double timeout_s = 60;
};

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // `cryo --root <private root> args...`, waited for, with stdout/stderr captured.
  Outcome cryo(const std::vector<std::string>& args, const RunOptions& o = {});
  // Any command, same capture.
  Outcome run_cmd(const std::vector<std::string>& argv, const RunOptions& o = {});
  // Started in the background; finish with wait_spawned.
  Spawned spawn_cmd(const std::vector<std::string>& argv, const RunOptions& o = {});
  Outcome wait_spawned(const Spawned& s, double timeout_s = 60);

  // A fresh container id, remembered for cleanup.
  std::string new_id();
  // Writes config_ to the bundle.
  void save_config();
  // config_ with process.args = args (and saved).
  void set_args(const std::vector<std::string>& args);
  // `cryo run` of args in the foreground.
  Outcome run_container(const std::vector<std::string>& args);
  // `cryo run -d` of args; returns the id once the container runs.
  std::string start_detached(const std::vector<std::string>& args);
  nlohmann::json state(const std::string& id);
  std::string status(const std::string& id);
  // Waits (bounded) until the container reports `want`.
  bool wait_status(const std::string& id, const std::string& want, double seconds = 20);
  void add_mount(const std::string& dest, const std::string& type, const std::string& source,
                 const std::vector<std::string>& options);
  void add_tmpfs(const std::string& dest);

  // Host paths a container with this id would leave behind.
  std::vector<std::string> cgroup_dirs(const std::string& id) const;
  // Pids of host processes whose command line mentions `needle`.
  std::vector<pid_t> processes_mentioning(const std::string& needle) const;
  // Asserts that nothing of container `id` remains (state, cgroups, processes).
  void expect_nothing_left(const std::string& id);

  std::string dir_;      // temp dir: bundle/, state/
  std::string bundle_;   // bundle/ with rootfs/ and config.json
  std::string rootfs_;   // bundle/rootfs (a copy of busybox + it_helper)
  std::string state_root_;
  nlohmann::json config_;
  std::vector<std::string> ids_;
};

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
std::string file_bytes(const std::string& path);
std::string trim(const std::string& s);

}  // namespace cryo::it
