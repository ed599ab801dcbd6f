#pragma once
// The "proxmox" provider (Proxmox VE: templates and VMs). Not built yet: its registration
// describes the `providers.proxmox` section, its rules and kinds, so specs that use it
// validate and plan; its resources fail with "not built into this tend".
#include "core/provider.h"

namespace tend::proxmox {
ProviderRegistration registration();
}  // namespace tend::proxmox
