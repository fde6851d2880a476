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
// Registered by checkpoint/'s CLI part when it is linked in.
void register_command(Command c);

}  // namespace cryo::cli
