#include "providers/proxmox/proxmox_registration.h"

namespace tend::proxmox {

namespace {

using T = ConfigKey::Type;

void rules(const ProviderCheck& c) {
  if (!c.section) {
    if (!c.spec.vms.empty())
      c.warning(c.spec.vms.front().loc, "vms are declared but providers.proxmox is not configured");
    return;
  }
  const auto& cfg = c.section->config;
  if (cfg.contains("tls") && cfg["tls"].value("insecure", false))
    c.warning(c.section->loc, "providers.proxmox.tls.insecure: the Proxmox certificate is not verified");
  if (cfg.contains("token_secret") && cfg.contains("token_secret_file"))
    c.error(c.section->loc, "providers.proxmox: use either 'token_secret' or 'token_secret_file'");
  if (const Str* rs = c.string("restart"); rs && rs->v != "auto" && rs->v != "manual")
    c.error(rs->loc, "providers.proxmox.restart must be auto or manual");
  const Str* ep = c.string("endpoint");
  if (ep && ep->v.rfind("https://", 0) != 0 && ep->v.rfind("http://", 0) != 0)
    c.error(ep->loc, "providers.proxmox.endpoint must be an https:// URL");
}

}  // namespace

ProviderRegistration registration() {
  ProviderRegistration r;
  r.name = "proxmox";
  r.config = {{"endpoint", T::String},
              {"node", T::String},
              {"token_id", T::String},
              {"token_secret", T::String},
              {"token_secret_file", T::Path},
              {"tls", T::Map, {{"fingerprint", T::String}, {"ca_file", T::Path}, {"insecure", T::Boolean}}},
              {"storage", T::String},
              {"bridge", T::String},
              {"image_storage", T::String},
              {"ciuser", T::String},
              {"ssh_keys", T::StringList},
              {"searchdomain", T::String},
              {"restart", T::String},
              {"agent", T::Boolean},
              {"agent_timeout", T::Duration}};
  r.factory = makeProxmoxProvider;
  r.rules = rules;
  // A VM goes after everything that runs on it; a template after the VMs cloned from it.
  r.kinds = {{"vm", 5}, {"template", 6}};
  r.payloadKeys = {"node", "storage", "bridge", "image_storage", "ciuser", "ssh_keys", "searchdomain", "agent"};
  return r;
}

}  // namespace tend::proxmox
