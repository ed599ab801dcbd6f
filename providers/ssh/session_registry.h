#pragma once
// The daemon's SSH connections, one HostPool per machine (core/host_sessions.h): the SSH
// provider runs its probes and applies through it, the Docker provider's ssh:// transport opens
// its streams to /var/run/docker.sock through it, and BIND9 on a remote server reads and writes
// its files through it. One host costs one pool whatever uses it.
//
// Credentials come from `providers.ssh` (configure()); a ${secret:…} key is resolved the first
// time a caller with a SecretResolver (the SSH provider's calls) hands it over.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/host_sessions.h"
#include "core/secrets.h"
#include "providers/ssh/channel_bridge.h"
#include "providers/ssh/host_pool.h"

namespace tend::ssh {

class SessionRegistry final : public HostSessions {
 public:
  SessionRegistry() = default;
  ~SessionRegistry() override;

  // providers.ssh as loaded (secrets symbolic). A changed section drops pools made with the old.
  void configure(const nlohmann::json& sshConfig);
  // The pool for a host of the spec; `secrets` resolves a ${secret:…} key (may be null when the
  // key was resolved before or is a file).
  Result<std::shared_ptr<HostPool>> pool(const std::string& name, const std::string& address, int port,
                                         const SecretResolver* secrets);
  // Pools only (tests): use this HostConfig for that address.
  void addHost(const HostConfig& cfg);

  Result<int> openStream(const HostAddress& host, const std::string& unixSocketPath,
                         std::chrono::steady_clock::time_point deadline) override;
  Result<HostCommandResult> exec(const HostAddress& host, const std::vector<std::string>& argv,
                                 const std::string& input, std::chrono::milliseconds timeout) override;
  Result<std::optional<std::string>> readFile(const HostAddress& host, const std::string& path) override;
  Result<void> writeFile(const HostAddress& host, const std::string& path, const std::string& content,
                         unsigned mode) override;

  // Streams opened so far (tests: Docker requests went through SSH).
  size_t streamsOpened() const;

 private:
  Result<std::shared_ptr<HostPool>> byAddress(const HostAddress& host);
  static std::string keyOf(const std::string& user, const std::string& address, int port);
  void reap();

  mutable std::mutex mu_;
  nlohmann::json config_;
  bool configured_ = false;
  std::map<std::string, std::shared_ptr<HostPool>> pools_;  // by user@address:port
  std::map<std::string, HostConfig> explicit_;              // addHost()
  SecretString key_;                                         // a resolved ${secret:} key
  std::vector<std::unique_ptr<ChannelBridge>> bridges_;
  size_t streams_ = 0;
};

}  // namespace tend::ssh
