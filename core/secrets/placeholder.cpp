// Placeholder until SOPS + age land.
#include "core/secrets/sops.h"

namespace tend::secrets {
Result<std::vector<std::string>> sopsKeyNames(const std::string&) {
  return makeError("sops support not built yet", true);
}
Result<std::unique_ptr<SecretResolver>> openSopsFile(const std::string&, const std::string&) {
  return makeError("sops support not built yet", true);
}
}  // namespace tend::secrets
