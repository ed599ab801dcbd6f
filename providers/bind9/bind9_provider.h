#pragma once
#include <memory>

#include "core/provider.h"

namespace tend::bind9 {
// The factory of the "bind9" provider.
Result<std::unique_ptr<Provider>> makeBind9Provider(const ProviderConfig& cfg);
// Its registration: factory, `providers.bind9` keys and rules, kinds (bind9_registration.cpp;
// listed by registerBuiltinProviders).
ProviderRegistration registration();
}  // namespace tend::bind9
