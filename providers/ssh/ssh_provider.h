#pragma once
// The "ssh" provider: host configuration over SSH (what Ansible did for the seed). Serves the
// `host` kind (the machine itself: reachable, its facts) and one kind per host item
// (host_items.h): package, file, directory, service, user, group, mount, sysctl, timezone,
// command, timer, each its own resource `host/NAME/KIND:KEY`.
//
// A pass costs each host one command: the batched probe (observe) reports every checksum,
// package, service, user and guard of the host at once; an item whose plan is a noop sends
// nothing more. Packages that need a change go in one apt transaction per host per pass (the
// first package apply runs it for all of them; the others read its result). A file whose
// content changed queues a restart/reload of the service its on_change names; that service
// (which depends on the files naming it) restarts once, however many files changed.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/provider.h"
#include "providers/ssh/host_items.h"
#include "providers/ssh/session_registry.h"

namespace tend::ssh {

class SshProvider final : public Provider {
 public:
  // Uses cfg.hostSessions when it is a SessionRegistry (the daemon's, shared with Docker and
  // BIND9), else a registry of its own.
  explicit SshProvider(const ProviderConfig& cfg);

  std::string name() const override { return "ssh"; }
  std::vector<std::string> kinds() const override;
  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;
  std::vector<ConcurrencyKey> concurrencyKeys(const DesiredResource* desired,
                                              const PlannedAction& action) const override;
  int defaultParallelism() const override { return 8; }
  std::chrono::milliseconds defaultCallTimeout() const override { return std::chrono::minutes(15); }

  SessionRegistry& sessions() { return *reg_; }
  // Commands sent to hosts so far (probes + applies), for tests and the benchmark.
  size_t commandsSent() const { return commands_.load(); }
  size_t probesSent() const { return probes_.load(); }

 private:
  struct PendingPackage {
    std::string name, state, hash;
  };
  struct HostState {
    std::string address;
    int port = 0;
    std::map<std::string, PendingPackage> pendingPackages;                 // item id ->
    std::map<std::string, std::pair<bool, std::string>> aptResults;        // item id -> ok, message
    bool aptBusy = false;
    std::map<std::string, std::set<std::string>> restarts, reloads;        // service -> files
  };

  Result<std::shared_ptr<HostPool>> poolFor(const std::string& host, const nlohmann::json* spec,
                                            const CallContext& ctx);
  // Runs `script` with sh as root (sudo -n when the login user is not root); `input` on stdin.
  // Without input the script itself goes on stdin (secrets never reach a command line).
  Result<ExecResult> run(HostPool& pool, const std::string& script, const std::string& input,
                         const CallContext& ctx);
  ApplyResponse applyPackage(const ApplyRequest& req, HostPool& pool, const std::string& host);
  ApplyResponse applyFile(const ApplyRequest& req, HostPool& pool, const std::string& host);

  ProviderConfig cfg_;
  std::unique_ptr<SessionRegistry> own_;
  SessionRegistry* reg_ = nullptr;
  mutable std::mutex mu_;
  std::map<std::string, HostState> hosts_;
  std::atomic<size_t> commands_{0};
  std::atomic<size_t> probes_{0};
};

}  // namespace tend::ssh
