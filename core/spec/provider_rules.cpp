// The spec conventions provider registrations use (core/provider_spec.h).
#include "core/provider_spec.h"

#include "core/spec/loader.h"

namespace tend {

const Str* ProviderCheck::string(const std::string& dottedKey) const {
  if (!section) return nullptr;
  auto it = section->strings.find(dottedKey);
  return it == section->strings.end() ? nullptr : &it->second;
}

namespace spec {

std::string specPath(const Spec& s, const std::string& rel) { return absPath(s, rel); }

int machineSshPort(const Spec& s, const std::string& machine) {
  if (auto* v = s.vm(machine); v && v->sshPort.set) return static_cast<int>(v->sshPort.v);
  if (auto* h = s.host(machine); h && h->sshPort.set) return static_cast<int>(h->sshPort.v);
  auto it = s.providers.find("ssh");
  if (it != s.providers.end() && it->second.config.contains("port")) return it->second.config["port"].get<int>();
  return 22;
}

}  // namespace spec
}  // namespace tend
