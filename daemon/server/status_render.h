#pragma once
// The JSON bodies of /v1/status, /v1/plan and /v1/events, rendered from plain values: the
// Controller gathers what it knows and never builds an HTTP body itself.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine.h"
#include "core/provider.h"
#include "core/state_store.h"

namespace tend::daemon {

struct StatusView {
  std::optional<std::string> revision;
  std::optional<std::string> environment;
  std::string specSource;
  std::vector<std::string> specErrors;
  bool ready = false;
  bool dryRun = false;
  std::optional<RunRecord> lastRun;
  std::vector<ResourceStatus> resources;
  DesiredGraphPtr graph;  // the applied spec (tier and app of each resource), may be null
};

// One resource of /v1/status: id, kind, phase, message, drifted, last_applied, depends_on,
// and tier (its tier's name, or null) and app (or null) from the applied spec. Not redacted.
nlohmann::json renderResourceJson(const ResourceStatus& s, const DesiredGraph* g);
// The top of /v1/status without resources (revision, last_run, spec_error, ...). Not redacted.
nlohmann::json renderStatusHead(const StatusView& v);
nlohmann::json renderRunJson(const RunRecord& r);

// The /v1/status body (redacted, newline-terminated).
std::string renderStatusJson(const StatusView& v);
// The /v1/plan body (redacted).
nlohmann::json renderPlanJson(const std::vector<PlannedAction>& plan);
// The /v1/events body (redacted).
nlohmann::json renderEventsJson(const std::vector<EventRecord>& events);

}  // namespace tend::daemon
