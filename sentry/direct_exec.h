// The exec step of the shell-less fast path (sentry/simple_command.h), run by a command's process
// at its very end, once it has its identity, capabilities and seccomp filter.
#pragma once

#include <string>
#include <vector>

namespace cryo::sentry {

// Execs `words` as sh would run them: argv is `words`, the program is searched along env's PATH
// (not ours), and env gets the PWD dash would export. Returns only when that fails (no such
// program, not executable, a file that is not a binary, which sh would run as a script...): the
// caller then execs the shell, which runs the command its own way and reports any error itself.
void exec_like_sh(const std::vector<std::string>& words, const std::vector<std::string>& env);

}  // namespace cryo::sentry
