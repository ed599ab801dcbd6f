#pragma once
// Prune stage: owned objects that left the spec. Candidates come from a full run's owned
// listing (ObserveRequest::includeOwned); they are deleted dependents first (by kind rank),
// and only after every resource that named one of them (per its last record) is updated.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/provider.h"

namespace tend::engine {

// Kind -> deletion rank: dependents first (containers before the networks, volumes and images
// they use, zones before hosts, hosts before vms, vms before templates).
int pruneRank(const std::string& kind);
// The rank a provider registered for `kind` when `registered` is set, else pruneRank(kind).
int pruneRank(const std::function<int(const std::string&)>& registered, const std::string& kind);

struct PruneCandidate {
  std::string id;
  std::string kind;
  ObservedResource observed;
};

// Owned, existing, well-formed objects of the provider's kinds that the graph does not hold.
// Malformed answers (a key that is not the object's id, no kind, a kind of another provider)
// are never candidates; they are logged.
std::vector<PruneCandidate> pruneCandidates(const std::map<std::string, ObservedResource>& observed,
                                            const std::set<std::string>& kinds,
                                            const DesiredGraph& graph, const std::string& providerName);

}  // namespace tend::engine
