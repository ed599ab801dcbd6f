#pragma once
// The one place that lists the providers built into tend (explicit registration, no static
// self-registration). tendd and tendctl (validate, plan --offline) use the same list.
#include "core/provider.h"

namespace tend {
void registerBuiltinProviders(ProviderRegistry& registry);
}  // namespace tend
