// A sentry engine on a private state dir, with helpers to look at what a sandbox leaves on the host.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "service/engine.h"

namespace cryo::sentry_test {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<service::SandboxEngine> make_engine();
  // Creates a sandbox with a fresh id ("t-<n>").
  std::string create(service::SandboxSpec spec = {});
  service::CommandResult run(const std::string& id, const std::string& shell, service::CommandSpec cmd = {});

  std::string sandbox_dir(const std::string& id) const { return state_ + "/sandboxes/" + id; }
  pid_t sentry_pid(const std::string& id) const;
  pid_t init_pid(const std::string& id) const;
  long vm_rss_kib(pid_t pid) const;

  static bool is_mounted(const std::string& path);
  static bool cgroup_exists(const std::string& id);
  static bool process_alive(pid_t pid);

  std::string state_;
  std::unique_ptr<service::SandboxEngine> engine_;
  int next_id_ = 1;
};

}  // namespace cryo::sentry_test
