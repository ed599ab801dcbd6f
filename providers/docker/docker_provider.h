#pragma once
#include <memory>

#include "core/provider.h"

namespace tend::docker {
// The factory of the "docker" provider.
Result<std::unique_ptr<Provider>> makeDockerProvider(const ProviderConfig& cfg);
// Its registration: factory, `providers.docker` keys and rules, kinds, endpoints
// (docker_registration.cpp; listed by registerBuiltinProviders).
ProviderRegistration registration();
}  // namespace tend::docker
