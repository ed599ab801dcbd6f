#pragma once
// The engine's per-key, per-run and per-call state (private to core/engine: engine_impl.cpp
// is the callers' side, reconciler.cpp the coordinating thread).
#include <chrono>
#include <cstdio>
#include <string>

#include "core/engine/engine_impl.h"

namespace tend::engine {

using SteadyClock = std::chrono::steady_clock;

inline std::string seconds(Clock::Duration d) {
  double s = std::chrono::duration<double>(d).count();
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

// Workqueue keys of scope backoffs start with a byte no resource id has.
inline const std::string kScopePrefix = "\x01scope:";

struct EngineImpl::Key {
  const DesiredResource* res = nullptr;
  std::shared_ptr<Provider> provider;
  bool none = false;
  std::optional<std::string> unavailable;
  std::string scope;
  Phase phase = Phase::Pending;
  Phase phaseBeforeApply = Phase::Pending;
  std::string message;  // what is recorded
  std::string note;     // shown in status only: "(retrying in 2.0s)"
  std::string root;     // blocked: the one root cause
  bool drifted = false;
  bool started = false;
  int64_t lastAppliedUnix = 0;
  Step step = Step::Idle;
  bool processing = false;  // handed out by the queue; done() not called yet
  bool settled = true;
  uint64_t callId = 0;
  std::optional<ObservedResource> observed;
  std::optional<Error> observeError;
  std::optional<Clock::Duration> scopeRetry;  // the scope failed: retry after this, once
  bool haveObservation = false;
  Clock::TimePoint observedAt{};
  uint64_t triggeredTick = 0, dispatchTick = 0, observedTick = 0;
  std::optional<PlannedAction> plan;
  int runFailures = 0;
  std::vector<int64_t> runs;      // runs that count this key when it settles
  std::vector<int64_t> nextRuns;  // triggered while processing: they count the next round
  bool conflict = false, adopted = false, recorded = false, changeCounted = false;
  ResourceRecord* rec = nullptr;  // its entry in persisted_ (node-stable), once looked up
  bool recLooked = false;
  bool statusDirty = false;
  bool rerunPending = false;  // triggered while its apply runs (counted in rerunsByScope_)
  BatchKey rerunScope;
  std::vector<ConcurrencyKey> slots;
};

struct EngineImpl::PruneKey {
  std::string id, kind, providerName;
  std::shared_ptr<Provider> provider;
  ObservedResource observed;
  int rank = 0;
  Phase phase = Phase::Deleting;
  std::string message;
  Step step = Step::Idle;
  bool processing = false;
  bool settled = false;
  uint64_t callId = 0;
  int failures = 0;
  std::vector<int64_t> runs, nextRuns;
  std::vector<std::string> waitFor;
  std::vector<ConcurrencyKey> slots;
  PlannedAction plan;
};

struct EngineImpl::Run {
  int64_t seq = 0;
  int64_t id = 0;  // the store's run id
  RunRequest req;
  bool full = true;
  bool accepting = false;  // under mu_
  bool finished = false;   // under mu_
  bool activated = false;
  int64_t startedMs = 0;
  Clock::TimePoint deadline{};
  SteadyClock::time_point t0{};
  int unsettled = 0;
  int ready = 0, failed = 0, blocked = 0, other = 0, changed = 0;
  std::map<std::string, int> listingsPending;  // provider -> scope calls still out
  std::map<std::string, bool> listingFailed;
  std::map<std::string, std::map<std::string, ObservedResource>> owned;  // not in the graph
  std::map<std::string, std::set<std::string>> seen;
  std::vector<std::function<void(const RunResult&)>> onDone;  // under mu_
};

struct EngineImpl::Completion {
  bool observe = false;
  bool prune = false;
  uint64_t callId = 0;
  int64_t epoch = 0;
  // observe
  BatchKey batch;
  std::vector<std::string> ids;
  bool includeOwned = false;
  std::vector<int64_t> listFor;
  ObserveResponse resp;
  DesiredGraphPtr graph;  // keeps the desired resources of the call alive
  // apply
  std::string id;
  std::string desiredHash;
  PlannedAction plan;
  ApplyOutput out;
  std::vector<ConcurrencyKey> slots;
};

}  // namespace tend::engine
