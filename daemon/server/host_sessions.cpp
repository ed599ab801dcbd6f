#include "daemon/server/host_sessions.h"

#include "providers/ssh/session_registry.h"

namespace tend::daemon {

// The SSH provider's registry: configured from providers.ssh when the SSH provider is built
// for a spec; until then every call answers, per host, that providers.ssh is not configured.
std::unique_ptr<HostSessions> makeDaemonHostSessions() { return std::make_unique<ssh::SessionRegistry>(); }

}  // namespace tend::daemon
