// Placeholder until the bind9 provider lands; replaced by the real factory.
#include "providers/bind9/bind9_provider.h"

namespace tend::bind9 {
Result<std::unique_ptr<Provider>> makeBind9Provider(const ProviderConfig&) {
  return makeError("provider 'bind9' is not built into this tend", true);
}
}  // namespace tend::bind9
