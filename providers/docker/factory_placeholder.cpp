// Placeholder until the docker provider lands; replaced by the real factory.
#include "providers/docker/docker_provider.h"

namespace tend::docker {
Result<std::unique_ptr<Provider>> makeDockerProvider(const ProviderConfig&) {
  return makeError("provider 'docker' is not built into this tend", true);
}
}  // namespace tend::docker
