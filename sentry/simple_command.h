// Recognising `/bin/sh -c STRING` commands that need no shell, as GNU make does for recipes.
//
// The API's string command becomes `/bin/sh -c STRING`. When STRING is one plain command (words
// of ordinary characters separated by blanks, naming a program rather than a builtin), the shell
// would only split it into words, search PATH and exec the program. The command launcher can do
// that itself and save the shell's start (about a millisecond for the host's dynamically linked
// dash). If the direct exec fails for any reason, the process execs the shell as before, so
// errors, messages and exit statuses stay the shell's own.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cryo::sentry {

// The words to exec directly for `args` = {"/bin/sh", "-c", STRING} run with environment `env`,
// or nullopt when only the shell can say what STRING means. Pure: no system calls.
//
// nullopt when:
//  - args is not exactly {"/bin/sh", "-c", STRING};
//  - STRING holds anything but [A-Za-z0-9] and `_-./,:+%@` words separated by spaces and tabs
//    (so no quoting, expansion, globbing, redirection, assignment, comment, operator, newline);
//  - the first word is a shell keyword or builtin (dash's, bash's and busybox ash's): a program of
//    the same name may behave differently (`echo --help`, `pwd` and symlinks, `kill %1`);
//    except `true` and `false` without arguments, whose whole behaviour is their exit status;
//  - `env` differs from what dash would pass on: an entry that is not NAME=VALUE with a valid
//    name, a name given twice, OPTIND, PPID or IFS (dash resets them), no PATH, or a PATH
//    with `%` (dash reads those entries specially).
std::optional<std::vector<std::string>> simple_command_words(const std::vector<std::string>& args,
                                                             const std::vector<std::string>& env);

// Where to try `word` along `path` (a PATH value), in order, as sh and execvp search: a word with
// a slash is only itself; an empty PATH element is the current directory.
std::vector<std::string> path_candidates(const std::string& word, const std::string& path);

}  // namespace cryo::sentry
