// The table of `cryo` subcommands; each one parses its own flags and calls into runtime/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/container.h"

namespace cryo::cli {

struct Command {
  const char* name;
  bool enters_container;  // re-exec from a sealed copy first (CVE-2019-5736)
  std::function<int(const runtime::GlobalOptions&, const std::vector<std::string>&)> run;
};

const Command* find_command(const std::string& name);
// Adds a command, or replaces the one of the same name.
void register_command(Command c);
// cryo-checkpoint's commands (checkpoint, restore); in plain cryo they exec cryo-checkpoint.
void register_checkpoint_commands();
// The command line as cryo got it, for handing a command to another binary.
void set_original_argv(char** argv);

}  // namespace cryo::cli
