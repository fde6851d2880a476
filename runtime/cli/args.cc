#include "runtime/cli/args.h"

namespace cryo::cli {
namespace {

// "-foo" (Go's flag syntax) -> "--foo"; "-f" stays short; "--" marks the end of options.
std::string normalize(const std::string& a) {
  if (a.size() > 2 && a[0] == '-' && a[1] != '-') return "-" + a;
  return a;
}

bool takes_value(const po::options_description& desc, const std::string& token) {
  if (token.find('=') != std::string::npos) return false;
  bool is_long = token.rfind("--", 0) == 0;
  for (auto& d : desc.options()) {
    bool match = is_long ? "--" + d->long_name() == token
                         : d->canonical_display_name(po::command_line_style::allow_dash_for_short) == token;
    if (match) return d->semantic()->max_tokens() > 0;
  }
  return false;
}

// Go's flag package lets a flag repeat and keeps the last value (podman passes --leave-running
// twice); Boost refuses repeats of non-composing options, so drop all but the last of each.
void keep_last_occurrence(po::parsed_options& parsed, const po::options_description& desc) {
  std::vector<po::option> kept;
  for (size_t i = 0; i < parsed.options.size(); ++i) {
    const po::option& o = parsed.options[i];
    const po::option_description* d = desc.find_nothrow(o.string_key, false);
    bool later = false;
    if (d && !d->semantic()->is_composing())
      for (size_t j = i + 1; j < parsed.options.size() && !later; ++j) later = parsed.options[j].string_key == o.string_key;
    if (!later) kept.push_back(o);
  }
  parsed.options = std::move(kept);
}

}  // namespace

SplitArgs split_args(const std::vector<std::string>& args, const po::options_description& desc) {
  SplitArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = normalize(args[i]);
    if (a == "--") {
      out.positional.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      return out;
    }
    if (a.size() < 2 || a[0] != '-') {
      out.positional.assign(args.begin() + static_cast<long>(i), args.end());
      return out;
    }
    out.options.push_back(a);
    if (takes_value(desc, a) && i + 1 < args.size()) out.options.push_back(args[++i]);
  }
  return out;
}

void parse_options(const SplitArgs& split, const po::options_description& desc, po::variables_map& vm) {
  auto parsed = po::command_line_parser(split.options)
                    .options(desc)
                    .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
                    .run();
  keep_last_occurrence(parsed, desc);
  po::store(parsed, vm);
  po::notify(vm);
}

}  // namespace cryo::cli
