// Finding the helper executables that ship together (cryo-sentry, cryo-sentry-setup,
// cryo-sandbox-init): next to the running binary, unless an environment variable names one.
#pragma once

#include <string>

namespace cryo::sentry {

// Throws cryo::Error naming both places it looked.
std::string sibling_binary(const std::string& name, const char* env_override);

}  // namespace cryo::sentry
