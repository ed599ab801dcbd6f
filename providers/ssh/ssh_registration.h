#pragma once
// The "ssh" provider (host configuration: packages, services, files). Not built yet: its
// registration describes the `providers.ssh` section, its rules and kinds, so specs that use
// it validate and plan; its resources fail with "not built into this tend".
#include "core/provider.h"

namespace tend::ssh {
ProviderRegistration registration();
}  // namespace tend::ssh
