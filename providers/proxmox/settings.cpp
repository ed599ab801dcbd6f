#include "providers/proxmox/settings.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "providers/proxmox/wire.h"

namespace tend::proxmox {

namespace {
Error bad(const std::string& where, const std::string& key, const std::string& msg) {
  return makeError(where + "." + key + ": " + msg, true);
}
}  // namespace

Result<Settings> parseSettings(const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object()) return makeError(where + ": expected a mapping", true);
  static const std::vector<std::string> known = {
      "endpoint", "node",     "token_id",     "token_secret", "token_secret_file",
      "tls",      "storage",  "bridge",       "image_storage", "ciuser",
      "ssh_keys", "searchdomain", "restart",  "agent",        "agent_timeout",
      "agent_timeout_s"};
  for (auto& [k, v] : obj.items())
    if (std::find(known.begin(), known.end(), k) == known.end())
      return bad(where, k, "unknown key (known: endpoint, node, token_id, token_secret, "
                           "token_secret_file, tls, storage, bridge, image_storage, ciuser, "
                           "ssh_keys, searchdomain, restart, agent, agent_timeout)");
  Settings s;
  auto str = [&](const char* key, bool required, std::string& out) -> Result<void> {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) return bad(where, key, "required");
      return {};
    }
    if (!it->is_string() || it->get<std::string>().empty()) return bad(where, key, "expected a non-empty string");
    out = it->get<std::string>();
    return {};
  };
  std::string endpoint;
  if (auto r = str("endpoint", true, endpoint); !r) return r.error();
  static const std::regex ep(R"(^https://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::(\d{1,5}))?/?$)");
  std::smatch m;
  if (!std::regex_match(endpoint, m, ep))
    return bad(where, "endpoint", "'" + endpoint + "' is not https://HOST[:PORT] (the API is HTTPS only)");
  s.client.host = m[1];
  if (s.client.host.front() == '[') s.client.host = s.client.host.substr(1, s.client.host.size() - 2);
  if (m[2].matched) {
    int port = std::stoi(m[2]);
    if (port < 1 || port > 65535) return bad(where, "endpoint", "port out of range");
    s.client.port = static_cast<uint16_t>(port);
  }
  if (auto r = str("node", true, s.node); !r) return r.error();
  if (auto r = str("storage", false, s.storage); !r) return r.error();
  if (auto r = str("bridge", false, s.bridge); !r) return r.error();
  if (auto r = str("image_storage", false, s.imageStorage); !r) return r.error();
  if (auto r = str("ciuser", false, s.ciuser); !r) return r.error();
  if (auto r = str("searchdomain", false, s.searchdomain); !r) return r.error();
  if (auto it = obj.find("ssh_keys"); it != obj.end()) {
    if (!it->is_array()) return bad(where, "ssh_keys", "expected a list of public keys");
    for (const auto& k : *it) {
      if (!k.is_string() || k.get<std::string>().empty())
        return bad(where, "ssh_keys", "expected a list of public keys (strings)");
      s.sshKeys.push_back(k.get<std::string>());
    }
  }
  if (auto it = obj.find("restart"); it != obj.end()) {
    std::string v = it->is_string() ? it->get<std::string>() : "";
    if (v != "auto" && v != "manual") return bad(where, "restart", "expected auto or manual");
    s.restartAuto = v == "auto";
  }
  if (auto it = obj.find("agent"); it != obj.end()) {
    auto b = asBool(*it);
    if (!b) return bad(where, "agent", "expected true or false");
    s.agent = *b;
  }
  for (const char* key : {"agent_timeout_s", "agent_timeout"}) {
    auto it = obj.find(key);
    if (it == obj.end()) continue;
    auto n = asInt(*it);
    if (!n && it->is_string()) {
      // "90s", "5m" (the spec loader stores durations as agent_timeout_s already)
      std::string t = it->get<std::string>();
      static const std::regex d(R"(^(\d+)([smh]?)$)");
      std::smatch dm;
      if (std::regex_match(t, dm, d))
        n = std::stoll(dm[1]) * (dm[2] == "m" ? 60 : dm[2] == "h" ? 3600 : 1);
    }
    if (!n || *n < 1 || *n > 86400) return bad(where, "agent_timeout", "expected a duration (1s to 24h)");
    s.agentTimeoutSeconds = static_cast<int>(*n);
  }
  if (auto r = str("token_id", true, s.client.tokenId); !r) return r.error();
  static const std::regex tid(R"(^[^\s:!@]+@[A-Za-z][A-Za-z0-9.\-_]*![A-Za-z][A-Za-z0-9.\-_]*$)");
  if (!std::regex_match(s.client.tokenId, tid))
    return bad(where, "token_id", "'" + s.client.tokenId + "' is not USER@REALM!TOKENID");
  bool hasSecret = obj.contains("token_secret"), hasFile = obj.contains("token_secret_file");
  if (hasSecret == hasFile)
    return bad(where, "token_secret", hasSecret ? "give token_secret or token_secret_file, not both"
                                                : "required (or token_secret_file)");
  if (hasSecret) {
    if (auto r = str("token_secret", true, s.client.tokenSecret); !r) return r.error();
  } else {
    std::string path;
    if (auto r = str("token_secret_file", true, path); !r) return r.error();
    std::ifstream f(path);
    if (!f) return bad(where, "token_secret_file", "cannot read '" + path + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' '))
      secret.pop_back();
    if (secret.empty()) return bad(where, "token_secret_file", "'" + path + "' is empty");
    s.client.tokenSecret = secret;
  }
  if (s.client.tokenSecret.find_first_of("\r\n") != std::string::npos)
    return bad(where, "token_secret", "must be one line");
  if (auto it = obj.find("tls"); it != obj.end()) {
    if (!it->is_object()) return bad(where, "tls", "expected a mapping (fingerprint, ca_file or insecure)");
    int chosen = 0;
    for (auto& [k, v] : it->items()) {
      if (k == "fingerprint") {
        if (!v.is_string()) return bad(where, "tls.fingerprint", "expected a string");
        auto fp = normalizeFingerprint(v.get<std::string>());
        if (!fp) return bad(where, "tls.fingerprint", fp.error().message);
        s.client.tls.fingerprint = v.get<std::string>();
        ++chosen;
      } else if (k == "ca_file") {
        if (!v.is_string() || v.get<std::string>().empty()) return bad(where, "tls.ca_file", "expected a path");
        s.client.tls.caFile = v.get<std::string>();
        ++chosen;
      } else if (k == "insecure") {
        auto b = asBool(v);
        if (!b) return bad(where, "tls.insecure", "expected true or false");
        s.client.tls.insecure = *b;
        if (*b) ++chosen;
      } else {
        return bad(where, "tls." + k, "unknown key (known: fingerprint, ca_file, insecure)");
      }
    }
    if (chosen > 1) return bad(where, "tls", "give one of fingerprint, ca_file or insecure: true");
  }
  if (s.client.tls.insecure)
    s.warnings.push_back(where + ".tls.insecure is true: the certificate of " + endpoint +
                         " is not verified; anyone on the path can read the API token");
  return s;
}

}  // namespace tend::proxmox
