#pragma once
#include "core/provider.h"

namespace tend {
// The one place that lists built-in providers (explicit registration, no static magic).
void registerBuiltinProviders(ProviderRegistry& registry);
}  // namespace tend
