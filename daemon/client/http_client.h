#pragma once
// A small synchronous HTTP/1.1 client for tendctl and tests: unix socket or http(s)://HOST:PORT,
// optional bearer token, one deadline for the whole exchange.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

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
// Percent-encodes `s` for a URL path or query value: letters, digits and `-_.~/@:` stay as
// they are (resource ids keep their slashes), everything else is %XX.
std::string urlEncode(std::string_view s);

Result<HttpReply> httpCall(const ClientTarget& t, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

// One server-sent event: "id:", "event:" (empty = message) and the joined "data:" lines.
struct SseMessage {
  int64_t id = 0;
  std::string event;
  std::string data;
};

struct StreamEnd {
  int status = 0;          // HTTP status of the answer (0: none)
  std::string error;       // the answer's error text when it was not 200
  bool stopped = false;    // onMessage returned false
};

// GET `target` as a server-sent event stream (Accept: text/event-stream) and hand every
// message to onMessage until it returns false or the stream ends. Connecting has
// `connectTimeout`; once streaming, `idleTimeout` without a byte (the server sends a
// keep-alive comment every 15 s) ends it. Error: the daemon could not be reached or the
// connection broke.
Result<StreamEnd> httpStream(const ClientTarget& t, const std::string& target,
                             const std::function<bool(const SseMessage&)>& onMessage,
                             std::chrono::milliseconds connectTimeout = std::chrono::seconds(10),
                             std::chrono::milliseconds idleTimeout = std::chrono::seconds(45));

// Splits complete SSE messages off the front of `buf` (bytes as received), calling onMessage
// for each; false when onMessage asked to stop. Comments and retry lines are skipped.
bool parseSse(std::string& buf, const std::function<bool(const SseMessage&)>& onMessage);

}  // namespace tend::daemon
