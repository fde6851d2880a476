#include "sentry/direct_exec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "sentry/simple_command.h"

namespace cryo::sentry {
namespace {

bool same_file(const char* a, const char* b) {
  struct stat sa, sb;
  return ::stat(a, &sa) == 0 && ::stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// dash always exports PWD: the inherited value when it is absolute and names the current
// directory (symlinks kept), else the physical path. False when there is none to give.
bool set_pwd_as_dash_does(std::vector<std::string>& env) {
  auto it = std::find_if(env.begin(), env.end(), [](const std::string& e) { return e.starts_with("PWD="); });
  if (it != env.end() && (*it)[4] == '/' && same_file(it->c_str() + 4, ".")) return true;
  char buf[PATH_MAX];
  if (!::getcwd(buf, sizeof buf)) return false;
  std::string entry = std::string("PWD=") + buf;
  if (it != env.end())
    *it = std::move(entry);
  else
    env.push_back(std::move(entry));
  return true;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void exec_like_sh(const std::vector<std::string>& words, const std::vector<std::string>& env) {
  if (words.empty()) return;
  std::vector<std::string> args = words, vars = env;
  if (!set_pwd_as_dash_does(vars)) return;
  std::string path;  // simple_command_words only lets commands with a PATH through
  for (const auto& v : vars)
    if (v.starts_with("PATH=")) path = v.substr(5);
  std::vector<char*> argv = pointers(args), envp = pointers(vars);
  for (const std::string& candidate : path_candidates(words[0], path)) {
    ::execve(candidate.c_str(), argv.data(), envp.data());
    // sh goes on to the next PATH entry after any failure but this one: a file the kernel cannot
    // run is a script to sh, and only sh can run it.
    if (errno == ENOEXEC) return;
  }
}

}  // namespace cryo::sentry
