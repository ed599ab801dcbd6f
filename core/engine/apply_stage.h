#pragma once
// Apply-and-record stage: one apply on a worker, and its record. The record and its event are
// written right after the provider returns, in one store transaction, so a crash between the
// two loses at most the record (the next observation adopts the object by its mark).
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/metrics_sink.h"
#include "core/provider.h"
#include "core/state_store.h"

namespace tend::engine {

// plan() with the resource's private data; an exception becomes an error value.
Result<PlannedAction> safePlan(const Provider& p, const DesiredResource* desired,
                               const ObservedResource* observed, const nlohmann::json* privateData);
ApplyResponse safeApply(Provider& p, const std::string& providerName, const ApplyRequest& req,
                        MetricsSink* metrics);

std::string describe(const PlannedAction& a);  // "create (absent)"
const char* eventReason(Action a, bool drift);

struct ApplyInput {
  bool prune = false;
  std::string id, kind, providerName;
  const DesiredResource* desired = nullptr;  // null for a prune
  Provider* provider = nullptr;
  std::optional<ObservedResource> observed;
  PlannedAction plan;
  CallContext ctx;
  std::optional<ResourceRecord> prev;  // what the store holds (private data included)
  int64_t runId = 0;
  StateStore* store = nullptr;
  MetricsSink* metrics = nullptr;
  const Clock* clock = nullptr;
};

struct ApplyOutput {
  ApplyResponse resp;
  std::optional<ResourceRecord> recorded;  // the record written (not for prunes)
};

ApplyOutput applyAndRecord(ApplyInput in);

std::string redact(std::string s);
int64_t unixMs(const Clock& c);

}  // namespace tend::engine
