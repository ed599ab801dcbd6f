#include "daemon/server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace tend::daemon {

Result<std::string> readSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  if (s.empty()) return makeError(path + " is empty");
  return s;
}

bool constantTimeEquals(const std::string& a, const std::string& b) {
  // Length is not secret-dependent in a useful way, but compare the full buffer regardless.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool bearerMatches(const std::string& header, const std::string& token) {
  static const std::string kPrefix = "Bearer ";
  if (header.size() < kPrefix.size()) return false;
  std::string scheme = header.substr(0, kPrefix.size());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "bearer ") return false;
  std::string presented = header.substr(kPrefix.size());
  while (!presented.empty() && presented.front() == ' ') presented.erase(presented.begin());
  return constantTimeEquals(presented, token);
}

std::string hmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 0xf]);
  }
  return out;
}

bool webhookSignatureValid(const std::string& secret, const std::string& body,
                           const std::string& hub, const std::string& gitea) {
  std::string presented;
  if (!hub.empty()) {
    if (hub.rfind("sha256=", 0) != 0) return false;
    presented = hub.substr(7);
  } else if (!gitea.empty()) {
    presented = gitea;
  } else {
    return false;
  }
  std::transform(presented.begin(), presented.end(), presented.begin(), ::tolower);
  return constantTimeEquals(presented, hmacSha256Hex(secret, body));
}

}  // namespace tend::daemon
