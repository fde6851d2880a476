// Mount option strings of config.json -> mount(2) flags, data and propagation.
#pragma once

#include <string>
#include <vector>

namespace cryo::runtime {

struct MountFlags {
  unsigned long flags = 0;        // MS_* for the mount itself
  unsigned long propagation = 0;  // MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (+MS_REC)
  std::string data;               // filesystem options (mode=755,size=...)
  bool bind() const;
  bool readonly() const;
};

MountFlags parse_mount_options(const std::vector<std::string>& options);
unsigned long propagation_flags(const std::string& name);  // "rslave" -> MS_SLAVE|MS_REC; 0 if ""

}  // namespace cryo::runtime
