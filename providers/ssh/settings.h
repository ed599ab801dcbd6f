#pragma once
// `providers.ssh` (environment.yml) as the session layer needs it: the keys are user, port,
// private_key (usually ${secret:…}), private_key_file, known_hosts_file, connect_timeout,
// accept_new, proxy_jump ([user@]host[:port], a bastion every host is reached through, with
// the same key and known_hosts file). Secrets are resolved here, at the moment a session is configured, and never
// copied anywhere but the HostConfig's SecretString.
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/secrets.h"
#include "providers/ssh/ssh_session.h"

namespace tend::ssh {

// known_hosts_file when the spec gives none: strict checking needs a file to check against.
inline constexpr const char* kDefaultKnownHostsFile = "/etc/tend/known_hosts";

// `config` is the loaded providers.ssh object (durations arrive as NAME_s seconds). `secrets`
// may be null when private_key holds no ${secret:…}. Errors are terminal: bad configuration.
Result<HostConfig> hostConfigFor(const nlohmann::json& config, const std::string& hostName,
                                 const std::string& address, int sshPort,
                                 const SecretResolver* secrets);

}  // namespace tend::ssh
