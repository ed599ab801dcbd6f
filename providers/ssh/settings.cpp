#include "providers/ssh/settings.h"

namespace tend::ssh {

Result<HostConfig> hostConfigFor(const nlohmann::json& config, const std::string& hostName,
                                 const std::string& address, int sshPort,
                                 const SecretResolver* secrets) {
  HostConfig c;
  c.name = hostName;
  c.address = address;
  auto str = [&](const char* k) -> std::string {
    auto it = config.find(k);
    return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (address.empty()) return makeError("host " + hostName + ": no address", true);
  c.port = sshPort > 0 ? sshPort
                       : (config.contains("port") && config["port"].is_number_integer()
                              ? config["port"].get<int>()
                              : 22);
  if (c.port < 1 || c.port > 65535)
    return makeError("host " + hostName + ": ssh port " + std::to_string(c.port) + " out of range",
                     true);
  if (auto u = str("user"); !u.empty()) c.user = u;
  c.knownHostsFile = str("known_hosts_file");
  if (c.knownHostsFile.empty()) c.knownHostsFile = kDefaultKnownHostsFile;
  if (auto it = config.find("accept_new"); it != config.end() && it->is_boolean())
    c.acceptNew = it->get<bool>();
  if (auto it = config.find("connect_timeout_s"); it != config.end() && it->is_number())
    c.connectTimeout = std::chrono::milliseconds(
        static_cast<int64_t>(it->get<double>() * 1000));
  c.privateKeyFile = str("private_key_file");
  std::string key = str("private_key");
  if (!key.empty() && !c.privateKeyFile.empty())
    return makeError("providers.ssh: use either 'private_key' or 'private_key_file'", true);
  if (!key.empty()) {
    if (key.find("${secret:") != std::string::npos) {
      if (!secrets)
        return makeError("providers.ssh.private_key names a secret but no secrets are loaded",
                         true);
      auto v = substituteSecrets(key, *secrets);
      if (!v) return makeError("providers.ssh.private_key: " + v.error().message, true);
      c.privateKey = std::move(*v);
    } else {
      c.privateKey = SecretString(std::move(key));
    }
    // Whatever a library or a message might echo of it, the log never shows it.
    Redactor::instance().add(c.privateKey.reveal());
  }
  if (c.privateKeyFile.empty() && c.privateKey.empty())
    return makeError("providers.ssh: set private_key or private_key_file", true);
  if (auto pj = str("proxy_jump"); !pj.empty()) {
    // [user@]host[:port]; the same key and known_hosts file as every host.
    auto jump = std::make_shared<HostConfig>(c);
    jump->name = "proxy_jump";
    jump->port = 22;
    std::string rest = pj;
    if (auto at = rest.find('@'); at != std::string::npos) {
      jump->user = rest.substr(0, at);
      rest = rest.substr(at + 1);
    }
    if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find(':') == colon) {
      std::string p = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
      if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 ||
          std::stoi(p) < 1 || std::stoi(p) > 65535)
        return makeError("providers.ssh.proxy_jump: bad port in '" + pj + "' ([user@]host[:port])",
                         true);
      jump->port = std::stoi(p);
    }
    if (rest.empty() || jump->user.empty())
      return makeError("providers.ssh.proxy_jump: '" + pj + "' is not [user@]host[:port]", true);
    jump->address = rest;
    // The bastion itself is reached directly.
    jump->proxyJump.reset();
    c.proxyJump = std::move(jump);
  }
  return c;
}

}  // namespace tend::ssh
