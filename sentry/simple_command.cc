#include "sentry/simple_command.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <string_view>

namespace cryo::sentry {
namespace {

// Characters that mean nothing to sh in an unquoted word. Everything else (quotes, `\`, `$`,
// backquote, `;&|<>(){}`, glob characters `*?[]`, `~`, `#`, `=`, `!`, `^`, newline, bytes
// outside ASCII) could quote, expand, redirect, assign, comment or separate: sh decides those.
bool is_plain(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("_-./,:+%@").find(c) != std::string_view::npos;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Shell keywords and builtins of dash, bash and busybox ash (whichever /bin/sh an image has), as
// they can reach here (names with other characters, such as `[` or `!`, are already refused).
// A builtin runs instead of any program of the same name, and may act differently from it.
bool is_shell_word(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      ".",       ":",        "alias",    "bg",      "bind",     "break",   "builtin",  "caller",  "case",
      "cd",      "chdir",    "command",  "compgen", "complete", "compopt", "continue", "coproc",  "declare",
      "dirs",    "disown",   "do",       "done",    "echo",     "elif",    "else",     "enable",  "esac",
      "eval",    "exec",     "exit",     "export",  "false",    "fc",      "fg",       "fi",      "for",
      "function", "getopts", "hash",     "help",    "history",  "if",      "in",       "jobs",    "kill",
      "let",     "local",    "logout",   "mapfile", "newgrp",   "popd",    "printf",   "pushd",   "pwd",
      "read",    "readarray", "readonly", "return", "select",   "set",     "shift",    "shopt",   "source",
      "suspend", "test",     "then",     "time",    "times",    "trap",    "true",     "type",    "typeset",
      "ulimit",  "umask",    "unalias",  "unset",   "until",    "wait",    "while",
  };
  return std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords);
}

std::optional<std::vector<std::string>> split_plain_words(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    if (is_blank(s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !is_blank(s[i])) {
      if (!is_plain(s[i])) return std::nullopt;
      ++i;
    }
    words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

bool is_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// True when dash would pass `env` on to the program unchanged, apart from PWD (which the exec
// step sets as dash does). dash drops entries without a valid name, keeps the last of a name
// given twice, and resets OPTIND, PPID and IFS; with no PATH it searches a default of its own.
bool env_passes_through_sh(const std::vector<std::string>& env) {
  std::set<std::string_view> names;
  bool has_path = false;
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) return false;
    std::string_view name(e.data(), eq);
    if (!is_name(name) || !names.insert(name).second) return false;
    if (name == "OPTIND" || name == "PPID" || name == "IFS") return false;
    if (name == "PATH") {
      if (e.find('%', eq) != std::string::npos) return false;
      has_path = true;
    }
  }
  return has_path;
}

}  // namespace

std::optional<std::vector<std::string>> simple_command_words(const std::vector<std::string>& args,
                                                             const std::vector<std::string>& env) {
  if (args.size() != 3 || args[0] != "/bin/sh" || args[1] != "-c") return std::nullopt;
  auto words = split_plain_words(args[2]);
  if (!words || words->empty()) return std::nullopt;
  const std::string& first = words->front();
  // `true` and `false` are dash builtins, but alone their programs do the same: exit 0 or 1
  // (with arguments, GNU's answer `--help` and `--version`; the builtins ignore them).
  bool bare_true_or_false = words->size() == 1 && (first == "true" || first == "false");
  if (is_shell_word(first) && !bare_true_or_false) return std::nullopt;
  if (!env_passes_through_sh(env)) return std::nullopt;
  return words;
}

std::vector<std::string> path_candidates(const std::string& word, const std::string& path) {
  if (word.find('/') != std::string::npos) return {word};
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t end = path.find(':', pos);
    std::string_view dir = std::string_view(path).substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    out.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + word);
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

}  // namespace cryo::sentry
