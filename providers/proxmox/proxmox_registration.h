#pragma once
// The "proxmox" provider (Proxmox VE: templates and VMs): its factory (provider.cpp) and its
// registration (the `providers.proxmox` keys, rules, kinds and prune order).
#include "core/provider.h"

namespace tend::proxmox {
ProviderRegistration registration();
// The factory of the "proxmox" provider (providers/proxmox/provider.cpp).
Result<std::unique_ptr<Provider>> makeProxmoxProvider(const ProviderConfig& cfg);
}  // namespace tend::proxmox
