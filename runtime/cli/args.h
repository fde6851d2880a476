// runc-style command lines on top of Boost.Program_options: Go-style single-dash long flags
// ("-no-subreaper"), options only before the first positional argument, repeated flags allowed.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace cryo::cli {

namespace po = boost::program_options;

struct SplitArgs {
  std::vector<std::string> options;     // normalized ("--name", "value")
  std::vector<std::string> positional;  // verbatim from the first non-option on
};

// Splits `args` at the first token that is not an option of `desc` or an option's value.
SplitArgs split_args(const std::vector<std::string>& args, const po::options_description& desc);
// Parses the options part into `vm`; unknown options are errors that name the flag.
void parse_options(const SplitArgs& split, const po::options_description& desc, po::variables_map& vm);

}  // namespace cryo::cli
