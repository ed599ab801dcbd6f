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
  const Str* reload = c.string("reload");
  if (reload && reload->v != "rndc" && reload->v != "none")
    c.error(reload->loc, "providers.bind9.reload must be rndc or none, got '" + reload->v + "'");
}

}  // namespace

ProviderRegistration registration() {
  ProviderRegistration r;
  r.name = "bind9";
  r.factory = makeBind9Provider;
  r.config = {{"server", T::String},
              {"conf_dir", T::Path},
              {"reload", T::String},
              {"rndc", T::Map, {{"server", T::String}, {"port", T::Integer}, {"key_file", T::Path}}}};
  r.rules = rules;
  // Zones go before the named.conf fragment that names them.
  r.kinds = {{"zone", 2}, {"dnsconf", 3}};
  return r;
}

}  // namespace tend::bind9
