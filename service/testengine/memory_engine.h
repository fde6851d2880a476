// A working SandboxEngine without isolation, for testing cryod and the SDKs end to end
// (`cryod --engine=memory`). Each sandbox is a host directory standing in for its root filesystem;
// commands run on the host with that directory (plus the requested cwd) as working directory.
// Snapshots copy the directory. Not a security boundary: never use it in production.
#pragma once

#include <memory>
#include <string>

#include "service/engine.h"

namespace cryo::service {

std::unique_ptr<SandboxEngine> make_memory_engine(const std::string& work_dir);

}  // namespace cryo::service
