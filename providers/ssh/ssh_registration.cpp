#include "providers/ssh/ssh_registration.h"

namespace tend::ssh {

namespace {

using T = ConfigKey::Type;

void rules(const ProviderCheck& c) {
  if (!c.section) return;
  const auto& cfg = c.section->config;
  if (cfg.contains("private_key") && cfg.contains("private_key_file"))
    c.error(c.section->loc, "providers.ssh: use either 'private_key' or 'private_key_file'");
}

}  // namespace

ProviderRegistration registration() {
  ProviderRegistration r;
  r.name = "ssh";
  r.config = {{"user", T::String},
              {"port", T::Integer},
              {"private_key", T::String},
              {"private_key_file", T::Path},
              {"known_hosts_file", T::Path},
              {"connect_timeout", T::Duration},
              {"accept_new", T::Boolean},
              {"proxy_jump", T::String}};
  r.rules = rules;
  // A host's configuration goes after what runs on it, before the VM under it.
  r.kinds = {{"host", 4}};
  return r;
}

}  // namespace tend::ssh
