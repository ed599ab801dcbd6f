#pragma once
// Observe stage: re-checks of resources of one (provider, scope) — a host, a cluster, a Docker
// endpoint — coalesce into one observe call. At most one call is in flight per scope; keys
// that need observing while it runs wait for the next batch. There is no barrier across
// scopes or providers: each batch goes to the worker pool on its own, so a slow or hung
// provider delays only its own resources (and, through the schedule stage, their dependents).
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/metrics_sink.h"
#include "core/provider.h"

namespace tend::engine {

// A provider call that throws (against the contract) becomes an error value; a call that
// failed as a whole without naming ids fails every requested id with the same message.
ObserveResponse safeObserve(Provider& p, const std::string& providerName, const ObserveRequest& req,
                            MetricsSink* metrics);

struct BatchKey {
  std::string provider;
  std::string scope;
  bool operator<(const BatchKey& o) const { return std::tie(provider, scope) < std::tie(o.provider, o.scope); }
};

struct Batch {
  Provider* provider = nullptr;
  std::vector<std::string> ids;  // resource ids to observe
  bool includeOwned = false;     // also list owned objects of the scope (prune, stale records)
  std::vector<int64_t> listFor;  // runs waiting for this scope's owned listing
};

class ObserveBatcher {
 public:
  void add(const BatchKey& k, Provider* p, const std::string& id);
  // A run wants the owned objects of this scope listed (includeOwned) in its next call.
  void wantListing(const BatchKey& k, Provider* p, int64_t runId);
  // Batches whose scope has no call in flight (and that `hold`, when given, does not keep
  // back); they are marked in flight.
  std::vector<std::pair<BatchKey, Batch>> takeReady(
      const std::function<bool(const BatchKey&, const Batch&)>& hold = nullptr);
  // The call of scope k returned.
  void finished(const BatchKey& k);
  bool inFlight(const BatchKey& k) const { return inFlight_.count(k) > 0; }
  size_t pending() const { return pending_.size(); }
  size_t inFlightCount() const { return inFlight_.size(); }

 private:
  std::map<BatchKey, Batch> pending_;
  std::map<BatchKey, int> inFlight_;
};

}  // namespace tend::engine
