// TEMPORARY: placeholder until the sentry-backed engine lands; the lead replaces this file.
#include "service/engine.h"

namespace cryo::service {

std::unique_ptr<SandboxEngine> make_default_engine(const std::string& /*state_dir*/) {
  throw cryo::Error("sandbox engine not available in this build");
}

}  // namespace cryo::service
