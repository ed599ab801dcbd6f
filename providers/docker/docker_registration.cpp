// What the spec loader, the engine and tendctl know about the docker provider (registered
// beside its factory by registerBuiltinProviders).
#include "providers/docker/docker_provider.h"

namespace tend::docker {

namespace {

using T = ConfigKey::Type;

const nlohmann::json* section(const Spec& s, const std::string& name) {
  auto it = s.providers.find(name);
  return it == s.providers.end() ? nullptr : &it->second.config;
}

void rules(const ProviderCheck& c) {
  const Str* t = c.string("transport");
  if (!t) return;
  const std::string& v = t->v;
  bool ok = v == "ssh" || (v.rfind("unix:", 0) == 0 && v.size() > 5) || v == "tcp+tls" ||
            v.rfind("tcp+tls:", 0) == 0 || v.rfind("tcp://", 0) == 0;
  if (!ok) c.error(t->loc, "invalid docker transport '" + v + "' (ssh, unix:PATH, tcp+tls[:PORT] or tcp://HOST:PORT)");
  // Docker over SSH rides on the ssh provider's connections and settings (user, port, key).
  if (v == "ssh" && !c.configured("ssh")) c.error(t->loc, "docker transport 'ssh' needs providers.ssh");
}

// The Docker Engine of `machine`: providers.docker.transport (default: over SSH when the ssh
// provider is configured, else the local socket).
std::string endpoint(const Spec& s, const std::string& machine) {
  std::string transport;
  if (auto* p = section(s, "docker"); p && p->contains("transport")) transport = (*p)["transport"];
  const nlohmann::json* ssh = section(s, "ssh");
  if (transport.empty()) transport = ssh ? "ssh" : "unix:/var/run/docker.sock";
  std::string addr = s.addressOf(machine);
  std::string haddr = addr.find(':') != std::string::npos ? "[" + addr + "]" : addr;
  if (transport == "ssh") {
    std::string user = "root";
    if (ssh && ssh->contains("user")) user = (*ssh)["user"];
    return "ssh://" + user + "@" + haddr + ":" + std::to_string(spec::machineSshPort(s, machine));
  }
  if (transport.rfind("unix:", 0) == 0) return "unix:" + spec::specPath(s, transport.substr(5));
  if (transport == "tcp+tls") return "tcp://" + haddr + ":2376";
  if (transport.rfind("tcp+tls:", 0) == 0) return "tcp://" + haddr + ":" + transport.substr(8);
  return transport;
}

}  // namespace

ProviderRegistration registration() {
  ProviderRegistration r;
  r.name = "docker";
  r.factory = makeDockerProvider;
  r.config = {{"transport", T::String}, {"ca_file", T::Path}, {"cert_file", T::Path}, {"key_file", T::Path}};
  r.rules = rules;
  // Containers go before what they use.
  r.kinds = {{"container", 0}, {"network", 1}, {"volume", 1}, {"image", 1}};
  r.endpoint = endpoint;
  return r;
}

}  // namespace tend::docker
