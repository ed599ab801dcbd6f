#pragma once
// The provider instances for the applied spec, (re)built from its `providers:` section. A
// provider whose config did not change keeps its instance (and its connection pools). A
// provider that cannot be built is replaced by one that fails every call with the reason, so the
// affected resources turn `failed` with a clear message instead of the daemon stopping.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/host_sessions.h"
#include "core/provider.h"
#include "core/resource.h"

namespace tend::daemon {

class ProviderSet {
 public:
  // `hostSessions` (may be null) is handed to every provider built here.
  ProviderSet(const ProviderRegistry& registry, std::string stateDir, HostSessions* hostSessions = nullptr);
  // May run while engine calls are in flight: a replaced instance lives on in the calls
  // that hold it (getShared) and goes when the last of them returns.
  void update(const DesiredGraph& graph);
  // Hands each provider its resources of `graph` as a prefetch hint (Provider::prefetch):
  // the reads the first observe needs begin while the pass is being prepared.
  void prefetch(const DesiredGraph& graph);
  Provider* get(const std::string& name);  // never null
  std::shared_ptr<Provider> getShared(const std::string& name);  // never null

 private:
  struct Entry {
    nlohmann::json config;
    std::shared_ptr<Provider> provider;
    int parallelism = 0;  // reconcile.parallelism.<name> it was built with
  };
  const ProviderRegistry& registry_;
  std::string stateDir_;
  HostSessions* hostSessions_;
  std::string specDir_, environment_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// A provider that answers every call with the same error.
std::unique_ptr<Provider> makeUnavailableProvider(std::string name, std::string reason);

}  // namespace tend::daemon
