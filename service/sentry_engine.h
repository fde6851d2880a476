// The production SandboxEngine: each sandbox is one cryo container with an overlay root, run by
// its own sentry process (sentry/). State lives under <state>:
//   images/default/        the default image (lower layer of every fresh sandbox)
//   sandboxes/<id>/        one sandbox (see sentry/layout.h)
//   run/                   cryo's runtime root for the sandboxes' containers
// Sentries outlive the engine: a new engine on the same state dir finds them again (running()).
#pragma once

#include <memory>
#include <string>

#include "service/engine.h"

namespace cryo::service {

struct SentryEngineOptions {
  std::string sentry_binary;  // empty: cryo-sentry next to the running binary, or $CRYO_SENTRY
  std::string init_binary;    // empty: cryo-sandbox-init next to it, or $CRYO_SANDBOX_INIT
};

std::unique_ptr<SandboxEngine> make_sentry_engine(const std::string& state_dir, SentryEngineOptions options = {});

}  // namespace cryo::service
