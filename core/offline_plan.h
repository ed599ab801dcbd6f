#pragma once
// The plan of `tendctl plan --offline`: what a reconcile would do, judged from the recorded
// state alone (no provider is contacted). Each resource is planned by its provider's own
// plan() (the code GET /v1/plan and dry runs use) against what the state knows of it: absent
// when never applied, else owned and present with the hash last applied. Offline differs only
// in what it knows: an object whose recorded hash matches the spec is up to date (drift made by
// hand is not visible), and a provider that is not built plans with the common rules of
// core/provider_plan.h.
#include <map>
#include <string>
#include <vector>

#include "core/provider.h"
#include "core/resource.h"
#include "core/state_store.h"

namespace tend {

// Desired resources in graph order, then what left the spec (by id). Providers are built from
// the graph's `providers:` configs with no state directory; they must not do I/O to plan.
std::vector<PlannedAction> planOffline(const DesiredGraph& graph,
                                       const std::map<std::string, ResourceRecord>& recorded,
                                       const ProviderRegistry& providers);

}  // namespace tend
