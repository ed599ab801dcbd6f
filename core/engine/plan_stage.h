#pragma once
// The one plan decision behind GET /v1/plan, `tendctl plan` and dry runs: observe (one call
// per provider and scope, in parallel), then each provider's pure plan() with the resource's
// private data, then the prune deletes in rank order. Apply runs the same plan() per key.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/metrics_sink.h"
#include "core/provider.h"

namespace tend::engine {

struct PlanStageInput {
  DesiredGraphPtr graph;
  std::vector<std::string> ids;  // empty = every resource, plus prune deletes when graph->prune
  std::function<Provider*(const std::string& name)> providerFor;
  std::function<nlohmann::json(const std::string& id)> privateData;  // may be empty
  CallContext ctx;
  MetricsSink* metrics = nullptr;
  std::function<int(const std::string& kind)> pruneRank;  // registered ranks; empty: built-in
};

struct PlanEntry {
  PlannedAction action;
  std::optional<std::string> error;  // observe/plan failed or provider missing (action noop)
  bool prune = false;
};

// Desired resources in graph order, then deletes of owned objects that left the spec.
std::vector<PlanEntry> planStage(const PlanStageInput& in);

extern const char* const kNoHostMessage;

}  // namespace tend::engine
