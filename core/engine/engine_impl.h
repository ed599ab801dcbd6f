#pragma once
// The reconcile engine behind makeEngine() (core/engine.h): continuous, controller-runtime
// style. One coordinating thread owns every key's state; provider calls run on the worker
// pool and post their completions back. The stages live in their own files:
//
//   observe_stage   (provider, scope) batches, one call in flight per scope, no barrier
//   schedule_stage  dependencies (wait / blocked by one root cause), concurrency keys
//   apply_stage     apply on a worker, recorded with its event in one store transaction
//   prune_stage     owned objects that left the spec, dependents first
//   plan_stage      the plan decision shared by GET /v1/plan and dry runs
//
// A key's life: a trigger (run) or a due requeue hands it out of the WorkQueue → observed (in
// its scope's next batch, unless a fresh observation is at hand) → when its dependencies are
// ready, planned → noop: ready / progressing (requeued after the recheck interval); a change:
// applied when its concurrency keys have room → Ok: ready; Progressing: requeued after the
// provider's requeueAfter with no worker held; Busy: requeued after its delay, no failure;
// Failed: requeued with its per-key exponential backoff (kept across runs, reset by success
// or a spec change), terminal errors not at all. A run is the set of keys one trigger
// enqueued; it ends when each of them is ready, failed or blocked by a failure.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/engine.h"
#include "core/engine/apply_stage.h"
#include "core/engine/observe_stage.h"
#include "core/engine/plan_stage.h"
#include "core/engine/schedule_stage.h"
#include "core/engine/thread_pool.h"
#include "core/engine/workqueue.h"

namespace tend::engine {

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineDeps deps, EngineOptions opts);
  ~EngineImpl() override;

  void setDesired(DesiredGraphPtr graph) override;
  DesiredGraphPtr desired() const override;
  int64_t start(const RunRequest& req, std::function<void(const RunResult&)> onDone) override;
  RunResult run(const RunRequest& req) override;
  Result<std::vector<PlannedAction>> plan(const std::vector<std::string>& ids) override;
  std::vector<ResourceStatus> status() const override;
  void cancel() override;
  bool drain(std::chrono::milliseconds timeout) override;

  // Introspection for tests and benchmarks.
  int64_t passesExecuted() const { return passes_.load(); }
  size_t waitingRunRequests() const;
  const WorkQueue& queue() const { return *queue_; }
  size_t callsInFlight() const;
  // Wakes the coordinator (after a fake clock moved).
  void wake();
  // Waits until nothing can happen without time passing: no key ready, no call in flight,
  // nothing in the inbox (keys waiting on a requeue delay may remain). False on timeout.
  bool waitIdle(std::chrono::milliseconds limit = std::chrono::seconds(10));

  // Kind -> deletion rank for prune, dependents first: the rank each provider registered
  // with its kinds (EngineDeps::pruneRank), else the built-in order of prune_stage.h.
  int pruneRank(const std::string& kind) const;

 private:
  enum class Step { Idle, Observing, Waiting, Held, Applying, Delayed };
  struct Key;
  struct PruneKey;
  struct Run;
  struct Completion;
  struct Joiner {
    std::shared_ptr<Run> run;
    std::vector<std::string> ids;  // empty = all
  };

  // --- coordinator (loop thread only) ---
  void loop();
  void installGraph(DesiredGraphPtr g);
  void activateRun(const std::shared_ptr<Run>& r, const std::vector<std::string>& ids);
  void trigger(int i, Run* r);
  void dispatch();
  void step(int i);
  void stepPrune(const std::string& id);
  void afterObservation(int i);
  void startApply(int i);
  void startPruneApply(const std::string& id, const PlannedAction& plan);
  void tryHeld();
  void flushBatches();
  void onCompletion(Completion& c);
  void onObserved(Completion& c);
  void onApplied(Completion& c);
  void onPruneApplied(Completion& c);
  void listingDone(Run& r, const std::string& provider);
  void settleReady(int i, std::string msg);
  void settleFailed(int i, std::string msg);
  void settleBlocked(int i, const std::string& root);
  void settle(int i);
  void toDelayed(int i, Clock::Duration after);
  void toWaiting(int i, const std::string& on);
  void progressing(int i, std::string msg, std::optional<Clock::Duration> after, bool started);
  void handleFailure(int i, const Error& err, bool mayRetry);
  void releaseDependents(int i, bool readyNow);
  void releaseFromLooseRuns(std::vector<int64_t>& runs, bool counted);
  void countSettled(std::vector<int64_t>& runs, Phase phase);
  const ResourceRecord* recordOf(int i);
  void markStatus(int i);
  void markRerun(Key& k);
  void clearRerun(Key& k);
  void finishPrune(const std::string& id, Phase phase, std::string msg, bool removed);
  void requeuePrunes();
  void persist(int i);
  void markDone(const std::string& id, bool& processing);
  void finishRuns(bool all, const std::string& result);
  void finishRun(Run& r, const std::string& forced);
  void submitApply(ApplyInput in, Completion c, std::shared_ptr<Provider> keep);
  void publishStatus();
  void recomputeCounts();
  bool idleNow() const;
  std::shared_ptr<Provider> providerRef(const std::string& name);
  CallContext callContext(const std::string& providerName, const Provider* p, int64_t runId,
                          uint64_t& callId);
  void endCall(uint64_t callId);
  RunResult dryRun(const RunRequest& req, int64_t runId, int64_t startedMs);
  std::vector<PlanEntry> planWith(const DesiredGraphPtr& graph, const std::vector<std::string>& ids,
                                  int64_t runId);

  EngineDeps deps_;
  EngineOptions opts_;
  SystemClock systemClock_;
  const Clock* clock_;
  std::unique_ptr<WorkQueue> queue_;
  TokenBucket applyBucket_;

  mutable std::mutex graphMu_;
  DesiredGraphPtr graph_;  // the latest setDesired (callers' view)

  // Status as shown by /v1/status, seeded from the store.
  mutable std::mutex statusMu_;
  std::vector<std::string> statusOrder_;
  std::unordered_map<std::string, ResourceStatus> statusById_;

  // Private data by id, for plan() callers on other threads.
  mutable std::mutex privMu_;
  std::unordered_map<std::string, nlohmann::json> privateData_;

  // Inbox of the coordinator.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idleCv_;
  std::deque<Completion> completions_;
  std::deque<Joiner> joiners_;
  DesiredGraphPtr newGraph_;
  bool cancelRequested_ = false;
  bool stop_ = false;
  bool wakeRequested_ = false;
  bool idle_ = true;
  std::map<int64_t, std::shared_ptr<Run>> runs_;  // open runs, by sequence (structure under mu_)
  int64_t runSeq_ = 0;
  size_t waiting_ = 0;
  std::atomic<int64_t> passes_{0};

  // In-flight provider calls: cancellation and deadlines.
  struct CallEntry {
    std::shared_ptr<CancelSignal> signal;
    std::chrono::steady_clock::time_point deadline;
  };
  mutable std::mutex callsMu_;
  std::unordered_map<uint64_t, CallEntry> calls_;
  uint64_t callSeq_ = 0;

  std::mutex progressMu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> lastProgress_;

  // --- loop-thread state ---
  DesiredGraphPtr loopGraph_;
  std::vector<Key> keys_;
  std::unordered_map<std::string, int> index_;
  std::vector<std::vector<int>> depIdx_, dependents_;
  std::vector<std::vector<std::string>> external_;
  std::map<std::string, PruneKey> prunes_;
  std::unordered_map<std::string, ResourceRecord> persisted_;
  std::map<std::string, std::string> kindProvider_;
  std::map<std::string, std::shared_ptr<Provider>> providers_;  // resolved for loopGraph_
  ObserveBatcher batcher_;
  ConcurrencyLimiter limiter_;
  std::deque<int> held_;
  std::deque<std::string> heldPrunes_;
  std::unordered_map<int64_t, std::shared_ptr<Run>> loopRuns_;  // activated, not finished
  uint64_t tick_ = 0;  // orders triggers and observe dispatches (is an observation fresh?)
  int inflight_ = 0;
  std::map<std::string, int> inflightByProvider_;  // applies
  std::map<BatchKey, int> rerunsByScope_;           // applying keys triggered again
  // When a failed scope's current backoff ends: observe calls that fail before then (they
  // were already in flight, or were sent for keys that joined meanwhile) share that backoff
  // instead of raising it; only a retry after it raises it again.
  std::unordered_map<std::string, Clock::TimePoint> scopeRetryAt_;
  int64_t epoch_ = 0;  // bumped by cancel(): completions of older calls are not requeued
  std::vector<int> dirtyKeys_;         // keys whose status changed (Key::statusDirty)
  std::set<std::string> dirtyStatus_;  // prune keys whose status changed
  bool countsDirty_ = false;
  std::set<std::string> statusRemoved_;

  std::unique_ptr<ThreadPool> pool_;
  std::thread thread_;
};

}  // namespace tend::engine
