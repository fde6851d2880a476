// The security suite's world: a real cryod (default engine: sentries, cryo containers, CRIU) on a
// private socket and state directory, a client for it, and an inventory of everything a sandbox can
// leave on the host (mounts, cgroups, processes, cryod's fds, state-dir files) to compare before and
// after an attack, a fault or a soak.
#pragma once

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "service/client.h"

namespace cryo::sec {

using nlohmann::json;

// One cryod process. Killing it (SIGKILL) and starting another on the same state dir is the point.
class Cryod {
 public:
  explicit Cryod(std::string dir);  // dir/cryod.sock, dir/state, dir/cryod.log
  ~Cryod();
  void start();
  void stop();   // SIGTERM and wait
  void kill9();  // SIGKILL and wait
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& state() const { return state_; }
  const std::string& socket() const { return socket_; }
  std::string log() const;

 private:
  std::string dir_, state_, socket_;
  pid_t pid_ = -1;
};

// What sandboxes of one cryod leave on the host. Only things tied to this cryod's state dir or to
// sandbox ids it handed out are counted, so other tests running on the machine do not disturb it.
struct Inventory {
  std::set<std::string> mounts;      // mount points under the state dir
  std::set<std::string> cgroups;     // /sys/fs/cgroup/<ctrl>/cryo/<id> of known ids (and any sbx- dir
                                     // not present at the baseline)
  std::set<pid_t> processes;         // in a known sandbox's cgroup, or with the state dir on the cmdline
  int cryod_fds = -1;
  std::set<std::string> state_files; // under sandboxes/, snapshots/, run/ (relative paths)
  int64_t state_bytes = 0;
  std::set<std::string> frozen;      // known cgroups whose freezer is not THAWED

  std::string diff(const Inventory& later) const;  // "" when equal (fds: later may not exceed)
};

class CryodTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  service::Client client() { return service::Client(cryod_->socket()); }
  // POST /v1/sandboxes; returns the sandbox id.
  std::string create(const json& body = json::object());
  // A shell command through the API; returns {stdout, stderr, exit_code, timed_out}.
  json sh(const std::string& id, const std::string& cmd, double timeout_s = 60);
  void put(const std::string& id, const std::string& path, const std::string& data, const char* mode = "644");
  // Copies the attack helper into the sandbox as /tmp/attack.
  void arm(const std::string& id);
  void kill_sandbox(const std::string& id);
  std::string snapshot(const std::string& id);

  std::string sandbox_dir(const std::string& id) const { return cryod_->state() + "/sandboxes/" + id; }
  pid_t sentry_pid(const std::string& id) const;
  pid_t init_pid(const std::string& id) const;

  Inventory inventory();
  // Waits (up to `seconds`) for the inventory to come back to `base`; returns the remaining diff.
  std::string settle(const Inventory& base, double seconds = 20);

  std::string dir_;
  std::unique_ptr<Cryod> cryod_;
  std::set<std::string> ids_;  // every sandbox id this test created
  std::set<std::string> baseline_cgroups_;
};

// Small host helpers.
std::string read_text(const std::string& path);
bool pid_alive(pid_t pid);  // zombies count as dead
std::set<std::string> cryo_cgroup_dirs();  // every /sys/fs/cgroup/*/cryo/<name>
std::string cgroup_dir(const std::string& controller, const std::string& id);
// "name result" lines of the attack helper -> map
std::map<std::string, std::string> parse_probes(const std::string& out);

}  // namespace cryo::sec
