#pragma once
// A small synchronous HTTP/1.1 client for tendctl and tests: unix socket or http(s)://HOST:PORT,
// optional bearer token, one deadline for the whole exchange.
#include <chrono>
#include <string>

#include "core/result.h"

namespace tend::daemon {

struct ClientTarget {
  std::string socket;  // unix socket path; used when url is empty
  std::string url;     // http://127.0.0.1:9469 or https://...
  std::string token;   // bearer token ("" = none)
  // https: trust only this PEM CA bundle (a homelab CA); "" = the system's trust store.
  std::string caFile;
  std::string describe() const { return url.empty() ? "unix:" + socket : url; }
};

struct HttpReply {
  int status = 0;
  std::string body;
  std::string contentType;
};

// Error (not a reply) when the daemon cannot be reached or the exchange fails.
Result<HttpReply> httpCall(const ClientTarget& t, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace tend::daemon
