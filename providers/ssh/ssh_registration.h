#pragma once
// The "ssh" provider (host configuration: packages, files, services, users, ... see
// ssh_provider.h): the `providers.ssh` section, its rules, kinds and factory.
#include "core/provider.h"

namespace tend::ssh {
ProviderRegistration registration();
}  // namespace tend::ssh
