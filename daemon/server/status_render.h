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
};

// The /v1/status body (redacted, newline-terminated).
std::string renderStatusJson(const StatusView& v);
// The /v1/plan body (redacted).
nlohmann::json renderPlanJson(const std::vector<PlannedAction>& plan);
// The /v1/events body (redacted).
nlohmann::json renderEventsJson(const std::vector<EventRecord>& events);

}  // namespace tend::daemon
