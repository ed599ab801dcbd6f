#pragma once
// The reconcile engine's public face: what tendd and tendctl use. Implementation in
// core/engine/ (see docs/architecture.md). Continuous, controller-runtime style: resource ids
// (keys) are reconciled by a worker pool and requeued with their own delay; a run is the set
// of keys one trigger enqueued, followed until they settle. Runs never wait for each other.
// Thread-safe: HTTP handlers call status()/plan() while keys are being reconciled.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
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
  int workers = 8;                                          // worker pool size (provider calls)
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffCap{5 * 60 * 1000};
  double globalRatePerSecond = 50;                          // applies per second, all providers
  std::string environment;
  // Bound of one run (untilSettled waits for health checks, retries): then the run ends as
  // partial; its unfinished keys go on being reconciled.
  std::chrono::milliseconds runTimeout{30 * 60 * 1000};
  // A run counts a transiently failing key as failed after this many attempts (or when its
  // next retry is further away than maxRetryWaitPerRun); the key itself goes on being retried
  // with its backoff until it succeeds, its spec changes or the error is terminal.
  int maxAttemptsPerRun = 3;
  std::chrono::milliseconds maxRetryWaitPerRun{60 * 1000};
  // Deadline of one provider call unless the provider's defaultCallTimeout() or callTimeouts
  // says otherwise; past it the call is cancelled.
  std::chrono::milliseconds callTimeout{10 * 60 * 1000};
  std::map<std::string, std::chrono::milliseconds> callTimeouts;  // by provider name
  // An observation this old is taken again before a plan (a dependent that waited minutes).
  std::chrono::milliseconds observationMaxAge{30 * 1000};
  // Re-observe delay for a progressing resource whose provider gave no requeueAfter.
  std::chrono::milliseconds recheckInterval{2000};
  // After cancel()/timeout, how long run() waits for in-flight provider calls to return.
  std::chrono::milliseconds cancelGrace{10000};
};

struct RunRequest {
  std::vector<std::string> resources;  // empty = all (unknown ids rejected by the caller)
  std::string trigger = "api";
  bool dryRun = false;
  // --once semantics: the run ends when every key is ready, failed or blocked by a failure
  // (progressing keys keep it open). Without: it ends when every key has been reconciled once.
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

// A stored record as a status entry (a restarted daemon shows these before its first run).
inline ResourceStatus statusOfRecord(const ResourceRecord& r) {
  ResourceStatus s;
  s.id = r.id;
  s.kind = r.kind;
  s.phase = phaseName(r.phase);
  s.message = r.message;
  s.drifted = r.drifted;
  s.lastAppliedUnix = r.lastAppliedUnix;
  s.dependsOn = r.dependsOn;
  return s;
}

class Engine {
 public:
  virtual ~Engine() = default;
  // Swap in a new validated spec (the old one keeps being enforced until this is called).
  // Providers are (re)built from the graph's provider configs by the caller-supplied factory.
  virtual void setDesired(DesiredGraphPtr graph) = 0;
  virtual DesiredGraphPtr desired() const = 0;
  // Enqueues the request's keys (a run) and returns its id at once (0 when the store could
  // not record it); onDone is called once, on the engine's thread, when the run ends.
  virtual int64_t start(const RunRequest& req, std::function<void(const RunResult&)> onDone) = 0;
  // start() and wait for the run to end.
  virtual RunResult run(const RunRequest& req) = 0;
  // Observe + plan, no apply (dry run, GET /v1/plan, tendctl plan).
  virtual Result<std::vector<PlannedAction>> plan(const std::vector<std::string>& ids = {}) = 0;
  virtual std::vector<ResourceStatus> status() const = 0;
  // Cancel in-flight provider calls and end every open run as "cancelled" (SIGTERM); run()
  // returns promptly. Later runs work as usual.
  virtual void cancel() = 0;
  // Waits (at most `timeout`) until no provider call is in flight; false on timeout.
  virtual bool drain(std::chrono::milliseconds timeout) {
    (void)timeout;
    return true;
  }
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
  // Preferred when set: the engine holds the instance while a call runs, so the caller may
  // replace a provider (its config changed) while calls to the old one finish.
  std::function<std::shared_ptr<Provider>(const std::string& providerName)> providerRef;
};

std::unique_ptr<Engine> makeEngine(EngineDeps deps, EngineOptions opts);

}  // namespace tend
