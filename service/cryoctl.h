// cryoctl: the command line client for cryod. Shared declarations of the subcommands.
#pragma once

#include <string>
#include <vector>

namespace cryo::service::ctl {

struct Globals {
  std::string socket;
  bool json = false;
};

// Each returns the process exit code; args exclude the group and verb words.
int sandbox_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args);
int exec_command(const Globals& g, const std::vector<std::string>& args, const std::vector<std::string>& argv);
int files_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args);
int image_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args);
int snapshot_command(const Globals& g, const std::string& verb, const std::vector<std::string>& args);

}  // namespace cryo::service::ctl
