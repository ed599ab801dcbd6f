#include "providers/ssh/ssh_registration.h"

#include "providers/ssh/ssh_provider.h"

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
              {"proxy_jump", T::String},
              {"apt_cache_valid", T::Duration}};
  r.rules = rules;
  // A host's configuration goes after what runs on it, before the VM under it; of its items,
  // what uses others goes first (a timer before the files it runs, a file before its directory).
  r.kinds = {{"host", 4},      {"command", 4}, {"timer", 4},     {"service", 4},
             {"mount", 4},     {"file", 4},    {"sysctl", 4},    {"timezone", 4},
             {"package", 4},   {"directory", 4}, {"user", 4},    {"group", 4}};
  r.factory = [](const ProviderConfig& cfg) -> Result<std::unique_ptr<Provider>> {
    return std::unique_ptr<Provider>(std::make_unique<SshProvider>(cfg));
  };
  return r;
}

}  // namespace tend::ssh
