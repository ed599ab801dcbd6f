#pragma once
// The reconcile engine's public face: what tendd and tendctl use. Implementation in
// core/engine/ (workqueue, reconciler). Thread-safe: HTTP handlers call status()/plan() while
// a pass runs on the worker pool.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metrics_sink.h"
#include "core/provider.h"
#include "core/resource.h"
#include "core/state_store.h"

namespace tend {

struct EngineOptions {
  bool dryRun = false;
  int workers = 8;                                          // worker pool size
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffCap{5 * 60 * 1000};
  double globalRatePerSecond = 50;                          // applies per second, all providers
  std::string environment;
  // Bound of one pass (untilSettled waits for health checks, retries): then the pass ends and
  // unfinished resources keep their phase (progressing/failed) until the next pass.
  std::chrono::milliseconds runTimeout{30 * 60 * 1000};
  // Within one pass a transiently failing resource is tried at most this often (waiting the
  // per-key backoff in between); terminal errors are tried once.
  int maxAttemptsPerRun = 3;
  // Re-observe delay for a progressing resource whose provider gave no requeueAfter.
  std::chrono::milliseconds recheckInterval{2000};
  // After cancel()/timeout, how long run() waits for in-flight provider calls to return.
  std::chrono::milliseconds cancelGrace{10000};
};

struct RunRequest {
  std::vector<std::string> resources;  // empty = all (unknown ids rejected by the caller)
  std::string trigger = "api";
  bool dryRun = false;
  // --once semantics: keep going within the run as dependencies become ready, until every
  // resource is ready or failed (or cancelled).
  bool untilSettled = true;
};

struct RunResult {
  int64_t runId = 0;
  std::string result;  // "success" (all ready), "failed", "partial", "cancelled"
  int64_t startedUnixMs = 0;
  int64_t finishedUnixMs = 0;
  int ready = 0, failed = 0, blocked = 0, changed = 0;
};

struct ResourceStatus {
  std::string id, kind, phase, message;
  bool drifted = false;
  int64_t lastAppliedUnix = 0;
  std::vector<std::string> dependsOn;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Swap in a new validated spec (the old one keeps being enforced until this is called).
  // Providers are (re)built from the graph's provider configs by the caller-supplied factory.
  virtual void setDesired(DesiredGraphPtr graph) = 0;
  virtual DesiredGraphPtr desired() const = 0;
  // Blocking: runs one pass on the worker pool and returns when it ends.
  virtual RunResult run(const RunRequest& req) = 0;
  // Observe + plan, no apply (dry run, GET /v1/plan, tendctl plan).
  virtual Result<std::vector<PlannedAction>> plan(const std::vector<std::string>& ids = {}) = 0;
  virtual std::vector<ResourceStatus> status() const = 0;
  // Cancel in-flight work (SIGTERM); run() returns "cancelled" promptly.
  virtual void cancel() = 0;
};

struct EngineDeps {
  StateStore* state = nullptr;
  MetricsSink* metrics = nullptr;     // may be null
  const SecretResolver* secrets = nullptr;  // may be null
  const Clock* clock = nullptr;       // null = SystemClock
  // provider name -> instance (owned by the caller, outlives the engine)
  std::function<Provider*(const std::string& providerName)> providerFor;
  // Prune order of a kind, lower deleted first (ProviderRegistry::pruneRank). Null: all 0.
  std::function<int(const std::string& kind)> pruneRank;
};

std::unique_ptr<Engine> makeEngine(EngineDeps deps, EngineOptions opts);

}  // namespace tend
