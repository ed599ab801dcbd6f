#pragma once
// The daemon's registry of host sessions (core/host_sessions.h), owned by the daemon and handed
// to every provider: the SSH provider's session registry (providers/ssh/session_registry.h), so
// the SSH provider, Docker's ssh:// transport and BIND9 on a remote server share one pool of
// sessions per host.
#include <memory>

#include "core/host_sessions.h"

namespace tend::daemon {

std::unique_ptr<HostSessions> makeDaemonHostSessions();

}  // namespace tend::daemon
