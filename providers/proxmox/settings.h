#pragma once
// `providers.proxmox` of environment.yml -> client settings. Keys (spec-example.md):
//   endpoint: https://HOST[:PORT]        (port 8006 by default; http:// is refused)
//   node: NAME                           the node VMs are created on
//   token_id: USER@REALM!TOKENID
//   token_secret: ${secret:...}          or token_secret_file: PATH (e.g. a systemd credential)
//   tls: { fingerprint: "AA:BB:..." }    or { ca_file: PATH }, or { insecure: true } (warned)
//   storage: local-lvm                   where disks and cloud-init drives go
//   bridge: vmbr0                        the bridge of net0
//   image_storage: local                 where template images are downloaded (content import)
//   ciuser: NAME                         cloud-init user of every VM
//   ssh_keys: [ "ssh-ed25519 AAAA..." ]  cloud-init authorized keys of every VM
//   searchdomain: example.org            cloud-init DNS search domain
//   restart: auto|manual                 changes that need a reboot: reboot now, or leave pending
//   agent: true                          guest agent on (ready waits for it to report the IP)
//   agent_timeout: 5m                    how long ready waits for the agent, then failed
// Secrets are expected already resolved (${secret:...} replaced) by the spec loader.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "providers/proxmox/client.h"

namespace tend::proxmox {

struct Settings {
  ClientConfig client;
  std::string node;
  std::string storage = "local-lvm";
  std::string bridge = "vmbr0";
  std::string imageStorage = "local";
  std::string ciuser;
  std::vector<std::string> sshKeys;
  std::string searchdomain;
  bool restartAuto = true;
  bool agent = true;
  int agentTimeoutSeconds = 300;
  // Said at every start (insecure TLS); never contains the secret.
  std::vector<std::string> warnings;
};

// `where` prefixes error messages ("providers.proxmox").
Result<Settings> parseSettings(const nlohmann::json& obj, const std::string& where = "providers.proxmox");

}  // namespace tend::proxmox
