#pragma once
// The reconcile engine behind makeEngine() (core/engine.h). Exposed as a header so tests can
// look at coalescing counters; everything else uses the Engine interface.
//
// One pass (run()):
//   1. one observe call per provider with all its desired resources (+ owned extras),
//   2. a walk of the DAG in topological order: a resource whose dependencies are all ready is
//      planned on the coordinating thread (plan is pure and cheap); a noop on a ready object
//      is settled inline, so a no-op pass makes no per-resource provider call and no store
//      write,
//   3. resources needing an apply, a re-check (progressing) or a retry go through the
//      WorkQueue (dedup, backoff, global rate limit) to the worker pool, bounded per provider
//      by graph.parallelism (default 4); each finished apply is recorded with its event,
//   4. dependents proceed as their dependencies become ready; a failure only stops its
//      dependents, which are `blocked` naming the one root cause,
//   5. prune (owned objects no longer in the spec, graph.prune) runs dependents first.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine.h"
#include "core/engine/thread_pool.h"
#include "core/engine/workqueue.h"

namespace tend::engine {

struct RunState;
struct GraphIndex;

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineDeps deps, EngineOptions opts);
  ~EngineImpl() override;

  void setDesired(DesiredGraphPtr graph) override;
  DesiredGraphPtr desired() const override;
  RunResult run(const RunRequest& req) override;
  Result<std::vector<PlannedAction>> plan(const std::vector<std::string>& ids) override;
  std::vector<ResourceStatus> status() const override;
  void cancel() override;

  // Introspection for tests and the daemon's debug output.
  int64_t passesExecuted() const { return passes_.load(); }
  size_t waitingRunRequests() const;
  const WorkQueue& queue() const { return *queue_; }

  // Kind -> deletion rank for prune: dependents first (containers before the networks,
  // volumes and images they use, zones before hosts, hosts before vms, vms before templates).
  int pruneRank(const std::string& kind) const;

 private:
  struct PendingRun;
  RunResult execute(const RunRequest& req);
  void publishStatus(RunState& rs, bool final);
  void recomputeCounts();
  Provider* providerFor(const std::string& name) const;
  int64_t nowUnixMs() const;

  EngineDeps deps_;
  EngineOptions opts_;
  SystemClock systemClock_;
  const Clock* clock_;
  std::unique_ptr<WorkQueue> queue_;
  std::unique_ptr<ThreadPool> pool_;

  mutable std::mutex graphMu_;
  DesiredGraphPtr graph_;

  // Status as shown by /v1/status: last known phase per id, seeded from the store.
  mutable std::mutex statusMu_;
  std::vector<std::string> statusOrder_;
  std::unordered_map<std::string, ResourceStatus> statusById_;

  // What the store holds (only the coordinating thread of a pass touches it, or setDesired
  // under runMu_): lets a no-op pass skip every write.
  std::unordered_map<std::string, ResourceRecord> persisted_;
  std::map<std::string, std::string> kindProvider_;  // kind -> provider name (meta)
  std::shared_ptr<GraphIndex> graphIndex_;           // of the last full pass's graph

  // Run serialisation and coalescing.
  mutable std::mutex runMu_;
  std::condition_variable runCv_;
  bool running_ = false;
  bool cancelPending_ = false;  // cancel() arrived between a pass starting and its state existing
  std::shared_ptr<PendingRun> next_;
  size_t waiting_ = 0;
  std::shared_ptr<RunState> current_;
  std::atomic<int64_t> passes_{0};

  // Cancellation flags of plan() calls in flight.
  std::mutex cancelMu_;
  std::set<std::atomic<bool>*> planFlags_;

  std::mutex progressMu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> lastProgress_;
};

}  // namespace tend::engine
