#include "providers/builtin.h"

#include "providers/bind9/bind9_provider.h"
#include "providers/docker/docker_provider.h"
#include "providers/proxmox/proxmox_registration.h"
#include "providers/ssh/ssh_registration.h"

namespace tend {
void registerBuiltinProviders(ProviderRegistry& registry) {
  // The order is the one `providers:` is listed in messages.
  registry.add(proxmox::registration());
  registry.add(ssh::registration());
  registry.add(docker::registration());
  registry.add(bind9::registration());
}
}  // namespace tend
