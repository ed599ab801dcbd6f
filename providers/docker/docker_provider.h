#pragma once
#include <memory>

#include "core/provider.h"

namespace tend::docker {
// Factory registered as "docker" (daemon/server/providers.cpp).
Result<std::unique_ptr<Provider>> makeDockerProvider(const ProviderConfig& cfg);
}  // namespace tend::docker
