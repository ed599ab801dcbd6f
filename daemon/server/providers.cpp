#include "daemon/server/providers.h"

#include "providers/bind9/bind9_provider.h"
#include "providers/docker/docker_provider.h"

namespace tend {
void registerBuiltinProviders(ProviderRegistry& registry) {
  registry.registerFactory("docker", docker::makeDockerProvider);
  registry.registerFactory("bind9", bind9::makeBind9Provider);
}
}  // namespace tend
