// What the spec loader, the engine and tendctl know about the bind9 provider (registered
// beside its factory by registerBuiltinProviders).
#include "providers/bind9/bind9_provider.h"

namespace tend::bind9 {

namespace {

using T = ConfigKey::Type;

void rules(const ProviderCheck& c) {
  if (!c.section) return;
  const Str* server = c.string("server");
  if (!server) c.error(c.section->loc, "providers.bind9 is missing required key 'server'");
  else if (!c.machineExists(server->v))
    c.error(server->loc, "providers.bind9.server: unknown vm or host '" + server->v + "'");
  const Str* transport = c.string("transport");
  if (transport && transport->v != "local" && transport->v != "ssh")
    c.error(transport->loc, "providers.bind9.transport must be local or ssh, got '" + transport->v + "'");
  else if (transport && transport->v == "ssh" && !c.configured("ssh"))
    c.error(transport->loc, "bind9 transport 'ssh' needs providers.ssh (its user, key and known_hosts)");
  const Str* reload = c.string("reload");
  if (reload && reload->v != "rndc" && reload->v != "none")
    c.error(reload->loc, "providers.bind9.reload must be rndc or none, got '" + reload->v + "'");
}

// Where named's machine is reached: over the daemon's SSH sessions (the same user, key and
// known_hosts as providers.ssh) or this machine's files ("" in the payload).
// providers.bind9.transport; by default SSH whenever providers.ssh is configured, as for Docker.
std::string endpoint(const Spec& s, const std::string& machine) {
  auto b = s.providers.find("bind9");
  auto ssh = s.providers.find("ssh");
  std::string transport;
  if (b != s.providers.end() && b->second.config.is_object())
    transport = b->second.config.value("transport", std::string());
  if (transport.empty()) transport = ssh != s.providers.end() ? "ssh" : "local";
  if (transport != "ssh") return "";
  std::string user = "root";
  if (ssh != s.providers.end() && ssh->second.config.is_object())
    user = ssh->second.config.value("user", user);
  std::string addr = s.addressOf(machine);
  if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
  return "ssh://" + user + "@" + addr + ":" + std::to_string(spec::machineSshPort(s, machine));
}

}  // namespace

ProviderRegistration registration() {
  ProviderRegistration r;
  r.name = "bind9";
  r.factory = makeBind9Provider;
  r.config = {{"server", T::String},
              {"transport", T::String},
              {"conf_dir", T::Path},
              {"reload", T::String},
              {"rndc", T::Map, {{"server", T::String}, {"port", T::Integer}, {"key_file", T::Path}}}};
  r.rules = rules;
  // Zones go before the named.conf fragment that names them.
  r.kinds = {{"zone", 2}, {"dnsconf", 3}};
  r.endpoint = endpoint;
  return r;
}

}  // namespace tend::bind9
