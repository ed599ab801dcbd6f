#pragma once
// The daemon's connections to machines, shared by providers. A provider that reaches a
// machine over SSH (Docker's ssh:// transport, BIND9 on a remote DNS server, the SSH provider
// itself) asks this registry instead of opening its own connection, so one host costs one
// session whatever uses it. The daemon owns the instance and hands it to every provider in
// ProviderConfig::hostSessions; there is no global hook.
//
// Every call is blocking and is made from a provider's own threads (never the io_context that
// serves HTTP). Errors are values.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace tend {

// Which machine, and as whom.
struct HostAddress {
  std::string user;
  std::string host;  // address or name (IPv6 without brackets)
  int port = 22;
  std::string describe() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return "ssh://" + (user.empty() ? std::string() : user + "@") + h + ":" + std::to_string(port);
  }
};

struct HostCommandResult {
  int exitCode = -1;  // -1 when killed by a signal or the timeout
  bool timedOut = false;
  std::string out, err;
};

class HostSessions {
 public:
  virtual ~HostSessions() = default;
  // A connected stream to the unix socket `unixSocketPath` on `host` (e.g. the remote
  // /var/run/docker.sock): a file descriptor the caller owns (one end of a socketpair the
  // session pumps through a direct-streamlocal channel). Blocks until connected or `deadline`.
  virtual Result<int> openStream(const HostAddress& host, const std::string& unixSocketPath,
                                 std::chrono::steady_clock::time_point deadline) = 0;
  // Runs argv on `host` (no shell), feeding `input` on stdin. A non-zero exit is not an error.
  virtual Result<HostCommandResult> exec(const HostAddress& host, const std::vector<std::string>& argv,
                                         const std::string& input, std::chrono::milliseconds timeout) = 0;
  // nullopt when the file does not exist.
  virtual Result<std::optional<std::string>> readFile(const HostAddress& host, const std::string& path) = 0;
  // Atomic from the reader's side (temp file + rename on the host).
  virtual Result<void> writeFile(const HostAddress& host, const std::string& path, const std::string& content,
                                 unsigned mode) = 0;
};

}  // namespace tend
