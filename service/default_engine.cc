// The production engine: sandboxes as cryo containers supervised by per-sandbox sentries.
#include "service/engine.h"
#include "service/sentry_engine.h"

namespace cryo::service {

std::unique_ptr<SandboxEngine> make_default_engine(const std::string& state_dir) {
  return make_sentry_engine(state_dir);
}

}  // namespace cryo::service
