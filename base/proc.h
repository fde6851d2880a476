// One field of a task's /proc files, read fresh on each call.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace cryo {

// The state letter of /proc/<pid>/stat ('R', 'S', 'D', 'T', 't', 'Z', ...); 0 when the task is gone.
char proc_state(pid_t pid);

// The value after `name:` in /proc/<pid>/status ("TracerPid", "NSpid", "Seccomp", "RssAnon", ...),
// without the surrounding blanks; nullopt when the task or the field is missing.
std::optional<std::string> proc_status_field(pid_t pid, std::string_view name);

}  // namespace cryo
