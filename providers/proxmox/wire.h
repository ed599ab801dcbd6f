#pragma once
// The Proxmox VE API's wire rules, as pure functions: form and path encoding (with the
// `sshkeys` double-encoding rule), lenient readers for JSON scalars whose types are not stable,
// error classification from the status line + `message` + `errors`, UPIDs and task status.
// Facts: pve-http-server (Formatter/Standard.pm, AnyEvent.pm), pve-common (JSONSchema.pm,
// UPID.pm), qemu-server (API2/Qemu.pm).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace tend::proxmox {

// ---- encoding
// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~ is escaped; space is %20
// (never '+').
std::string percentEncode(const std::string& s);
// A path segment (a UPID contains ':' '@' '!': it must be escaped in the URL).
inline std::string pathSegment(const std::string& s) { return percentEncode(s); }

using Params = std::vector<std::pair<std::string, std::string>>;
// application/x-www-form-urlencoded with RFC 3986 escaping (also used for query strings).
std::string formEncode(const Params& params);
// The value to put in the `sshkeys` parameter: the newline-joined keys percent-encoded once
// (the server URI-unescapes it and checks format `urlencoded`); formEncode encodes it again.
std::string encodeSshKeys(const std::vector<std::string>& keys);
// Percent-decoding (the server stores `sshkeys` encoded; config reads return it that way).
std::string percentDecode(const std::string& s);

// ---- lenient JSON scalars (numbers may arrive as strings and vice versa)
std::optional<int64_t> asInt(const nlohmann::json& j);
std::optional<double> asNumber(const nlohmann::json& j);
// true/false, 0/1, "0"/"1" (and "true"/"false", "yes"/"no", "on"/"off" as written in specs).
std::optional<bool> asBool(const nlohmann::json& j);
// A string, or a number rendered as the server would have written it.
std::optional<std::string> asString(const nlohmann::json& j);
// Member helpers: nullopt when absent or of an unusable type.
std::optional<int64_t> intField(const nlohmann::json& obj, const char* key);
std::optional<bool> boolField(const nlohmann::json& obj, const char* key);
std::optional<std::string> stringField(const nlohmann::json& obj, const char* key);

// ---- errors
enum class ErrorKind {
  None,
  Transport,  // connect/read/write failed, no (complete) HTTP answer
  Timeout,    // the call's deadline passed
  Cancelled,  // the caller cancelled the call
  Tls,        // certificate verification or pin mismatch: nothing was sent
  Auth,       // 401 / 403
  NotFound,   // 404, or "Configuration file ... does not exist"
  Busy,       // "VM is locked (...)", "can't lock file ... got timeout": retry later
  Param,      // 400 Parameter verification failed (per-parameter messages in `params`)
  Server,     // other 5xx / 501
  Task,       // a task stopped with an error exitstatus
};
const char* errorKindName(ErrorKind k);

struct ApiError {
  ErrorKind kind = ErrorKind::None;
  int status = 0;                             // HTTP status; 0 without an HTTP answer
  std::string message;                        // the server's message (or transport reason)
  std::map<std::string, std::string> params;  // 400: parameter -> message
  // Busy, Server, Transport and Timeout may succeed later; the others need a change first.
  bool retryable() const;
  // "proxmox: VM is locked (clone) (HTTP 500)"; parameter errors listed "a: msg; b: msg".
  std::string text() const;
  Error toError() const { return makeError(text(), !retryable()); }
};

// Classifies a server message (also a task's exitstatus) as Busy/NotFound or `fallback`.
ErrorKind classifyMessage(const std::string& message, ErrorKind fallback);
// From an HTTP answer that is not 2xx: the status line's reason phrase, the body's `message`
// (newer servers) and `errors`. Never throws on a malformed body.
ApiError errorFromResponse(int status, const std::string& reason, const std::string& body);

// ---- tasks
struct Upid {
  std::string node;
  uint32_t pid = 0;
  uint64_t pstart = 0;
  uint32_t starttime = 0;
  std::string type;  // qmclone, qmcreate, qmstart, download, ...
  std::string id;    // the vmid (for clone: the source), storage, ...
  std::string user;  // user@realm, or user@realm!tokenid for token-started tasks
  bool operator==(const Upid&) const = default;
};
Result<Upid> parseUpid(const std::string& text);
// UPID:node:PID8:PSTART8:STARTTIME8:type:id:user:  (uppercase hex, trailing colon)
std::string formatUpid(const Upid& u);

struct TaskStatus {
  bool running = false;
  std::string exitstatus;  // when stopped: "OK", "WARNINGS: N", or the error text
  // OK and WARNINGS are success (pve-common UPID.pm status_is_error).
  bool succeeded() const;
  bool failed() const { return !running && !succeeded(); }
  int warnings() const;  // N of "WARNINGS: N", else 0
  // The failure as an error value (Task, or Busy for lock errors); kind None when not failed.
  ApiError error(const std::string& upid) const;
};
Result<TaskStatus> parseTaskStatus(const nlohmann::json& data);

}  // namespace tend::proxmox
