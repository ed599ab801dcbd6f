#pragma once
// The daemon's registry of host sessions (core/host_sessions.h), owned by the daemon and handed
// to every provider. No SSH client is built into tend yet: every call answers that clearly,
// per host, so Docker's ssh:// endpoints and anything else that needs a remote machine fail
// with a message that names the host instead of a hook that was never installed.
#include <memory>

#include "core/host_sessions.h"

namespace tend::daemon {

std::unique_ptr<HostSessions> makeDaemonHostSessions();

}  // namespace tend::daemon
