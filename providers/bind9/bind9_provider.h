#pragma once
#include <memory>

#include "core/provider.h"

namespace tend::bind9 {
// Factory registered as "bind9" (daemon/server/providers.cpp).
Result<std::unique_ptr<Provider>> makeBind9Provider(const ProviderConfig& cfg);
}  // namespace tend::bind9
