#include "core/engine/engine_impl.h"
#include "core/engine/engine_state.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <unordered_set>

#include "core/engine/plan_stage.h"
#include "core/engine/prune_stage.h"
#include "core/log.h"
#include "core/secrets.h"

namespace tend {

std::unique_ptr<Engine> makeEngine(EngineDeps deps, EngineOptions opts) {
  return std::make_unique<engine::EngineImpl>(std::move(deps), std::move(opts));
}

namespace engine {

int EngineImpl::pruneRank(const std::string& kind) const { return engine::pruneRank(deps_.pruneRank, kind); }

EngineImpl::EngineImpl(EngineDeps deps, EngineOptions opts)
    : deps_(std::move(deps)),
      opts_(std::move(opts)),
      clock_(deps_.clock ? deps_.clock : &systemClock_),
      applyBucket_(opts_.globalRatePerSecond, 0, clock_->now()) {
  WorkQueueOptions qo;
  qo.backoffBase = opts_.backoffBase;
  qo.backoffCap = opts_.backoffCap;
  qo.ratePerSecond = 0;  // the global limit counts applies only (applyBucket_), not re-checks
  queue_ = std::make_unique<WorkQueue>(*clock_, qo);

  // Seed last-known status (and private data) from the store: a restarted daemon shows it
  // before its first run and hands providers back what they stored.
  if (deps_.state) {
    auto recs = deps_.state->loadResources();
    if (!recs) {
      log::error("state: loading resources failed: " + recs.error().message);
    } else {
      std::set<std::string> kinds;
      for (auto& r : *recs) {
        statusOrder_.push_back(r.id);
        statusById_[r.id] = statusOfRecord(r);
        kinds.insert(r.kind);
        if (!r.ownerData.is_null() && !(r.ownerData.is_object() && r.ownerData.empty()))
          privateData_[r.id] = r.ownerData;
        persisted_[r.id] = std::move(r);
      }
      for (auto& k : kinds) {
        auto m = deps_.state->getMeta("kind_provider/" + k);
        if (m && m->has_value()) kindProvider_[k] = **m;
      }
    }
  }
  pool_ = std::make_unique<ThreadPool>(std::max(1, opts_.workers));
  thread_ = std::thread([this] { loop(); });
}

EngineImpl::~EngineImpl() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  {
    std::lock_guard lk(callsMu_);
    for (auto& [id, c] : calls_) c.signal->cancel();
  }
  if (thread_.joinable()) thread_.join();
  pool_.reset();  // drains: every task returns promptly once cancelled
  queue_->shutDown();
}

// ---- callers' side -------------------------------------------------------------------------

void EngineImpl::setDesired(DesiredGraphPtr graph) {
  {
    std::lock_guard lk(graphMu_);
    if (graph == graph_) return;
    graph_ = graph;
  }
  if (!graph) return;
  {
    std::lock_guard lk(statusMu_);
    std::unordered_map<std::string, ResourceStatus> next;
    std::vector<std::string> order;
    order.reserve(graph->resources.size());
    for (const auto& r : graph->resources) {
      ResourceStatus s;
      auto it = statusById_.find(r.id);
      if (it != statusById_.end()) {
        s = std::move(it->second);
      } else {
        s.phase = "pending";
        s.message = "not reconciled yet";
      }
      s.id = r.id;
      s.kind = r.kind;
      s.dependsOn = r.dependsOn;
      order.push_back(r.id);
      next[r.id] = std::move(s);
    }
    statusById_ = std::move(next);
    statusOrder_ = std::move(order);
  }
  recomputeCounts();
  {
    std::lock_guard lk(mu_);
    newGraph_ = graph;
    idle_ = false;
  }
  cv_.notify_all();
}

DesiredGraphPtr EngineImpl::desired() const {
  std::lock_guard lk(graphMu_);
  return graph_;
}

std::vector<ResourceStatus> EngineImpl::status() const {
  std::lock_guard lk(statusMu_);
  std::vector<ResourceStatus> out;
  out.reserve(statusOrder_.size());
  for (const auto& id : statusOrder_) {
    auto it = statusById_.find(id);
    if (it != statusById_.end()) out.push_back(it->second);
  }
  return out;
}

void EngineImpl::recomputeCounts() {
  if (!deps_.metrics) return;
  static const Phase kPhases[] = {Phase::Pending, Phase::Blocked, Phase::Progressing,
                                  Phase::Ready,   Phase::Failed,  Phase::Deleting};
  std::map<std::pair<std::string, std::string>, int> counts;
  {
    std::lock_guard lk(statusMu_);
    for (const auto& [id, s] : statusById_) {
      if (!counts.count({s.kind, "ready"}))
        for (auto p : kPhases) counts[{s.kind, phaseName(p)}] = 0;
      counts[{s.kind, s.phase}]++;
    }
  }
  deps_.metrics->resourceCounts(counts);
}

size_t EngineImpl::waitingRunRequests() const {
  std::lock_guard lk(mu_);
  return waiting_;
}

size_t EngineImpl::callsInFlight() const {
  std::lock_guard lk(callsMu_);
  return calls_.size();
}

void EngineImpl::wake() {
  {
    std::lock_guard lk(mu_);
    wakeRequested_ = true;
    idle_ = false;
  }
  cv_.notify_all();
}

bool EngineImpl::waitIdle(std::chrono::milliseconds limit) {
  std::unique_lock lk(mu_);
  return idleCv_.wait_for(lk, limit, [&] {
    return idle_ && completions_.empty() && joiners_.empty() && !newGraph_ && !wakeRequested_;
  });
}

void EngineImpl::cancel() {
  {
    std::lock_guard lk(mu_);
    cancelRequested_ = true;
    idle_ = false;
  }
  cv_.notify_all();
  std::lock_guard lk(callsMu_);
  for (auto& [id, c] : calls_) c.signal->cancel();
}

bool EngineImpl::drain(std::chrono::milliseconds timeout) {
  auto until = SteadyClock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lk(callsMu_);
      if (calls_.empty()) return true;
    }
    if (SteadyClock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int64_t EngineImpl::start(const RunRequest& req, std::function<void(const RunResult&)> onDone) {
  auto graph = desired();
  RunResult none;
  none.startedUnixMs = none.finishedUnixMs = unixMs(*clock_);
  if (!graph) {
    none.result = "failed";
    log::warn("reconcile: no desired state loaded");
    if (onDone) onDone(none);
    return 0;
  }
  if (req.dryRun || opts_.dryRun) {
    passes_++;
    int64_t id = 0;
    if (deps_.state) {
      RunRecord rr;
      rr.startedUnixMs = none.startedUnixMs;
      rr.result = "running";
      rr.revision = graph->revision;
      rr.trigger = req.trigger;
      rr.dryRun = true;
      auto b = deps_.state->beginRun(rr);
      if (b) id = *b;
      else log::error("state: beginRun failed: " + b.error().message);
    }
    auto r = dryRun(req, id, none.startedUnixMs);
    if (onDone) onDone(r);
    return id;
  }
  std::unique_lock lk(mu_);
  // Requests arriving while an earlier run of the same kind is open join the one run that
  // was started after it ("coalesced with one already queued"): a burst of triggers is one
  // more run. Their keys are enqueued at once either way.
  for (auto& [seq, r] : runs_) {
    if (!r->accepting || r->finished || r->req.untilSettled != req.untilSettled) continue;
    if (onDone) r->onDone.push_back(std::move(onDone));
    joiners_.push_back(Joiner{r, req.resources});
    idle_ = false;
    lk.unlock();
    cv_.notify_all();
    return r->id;
  }
  auto r = std::make_shared<Run>();
  r->seq = ++runSeq_;
  r->req = req;
  r->full = req.resources.empty();
  r->startedMs = none.startedUnixMs;
  r->t0 = SteadyClock::now();
  r->deadline = clock_->now() + opts_.runTimeout;
  for (auto& [seq, o] : runs_)
    if (!o->finished && o->req.untilSettled == req.untilSettled) r->accepting = true;
  if (onDone) r->onDone.push_back(std::move(onDone));
  passes_++;
  if (deps_.state) {
    RunRecord rr;
    rr.startedUnixMs = r->startedMs;
    rr.result = "running";
    rr.revision = graph->revision;
    rr.trigger = req.trigger;
    rr.dryRun = false;
    auto b = deps_.state->beginRun(rr);
    if (b) r->id = *b;
    else log::error("state: beginRun failed: " + b.error().message);
  }
  runs_[r->seq] = r;
  joiners_.push_back(Joiner{r, req.resources});
  idle_ = false;
  lk.unlock();
  cv_.notify_all();
  return r->id;
}

RunResult EngineImpl::run(const RunRequest& req) {
  struct Wait {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    RunResult r;
  };
  auto w = std::make_shared<Wait>();
  start(req, [w](const RunResult& r) {
    std::lock_guard lk(w->m);
    w->r = r;
    w->done = true;
    w->cv.notify_all();
  });
  bool counted = false;
  {
    // Callers of a run that waits for an earlier one count as waiting (tests, debug output).
    std::lock_guard lk(mu_);
    for (auto& [seq, r] : runs_)
      if (r->accepting && !r->finished) counted = true;
    if (counted) waiting_++;
  }
  std::unique_lock lk(w->m);
  w->cv.wait(lk, [&] { return w->done; });
  lk.unlock();
  if (counted) {
    std::lock_guard g(mu_);
    waiting_--;
  }
  return w->r;
}

std::vector<PlanEntry> EngineImpl::planWith(const DesiredGraphPtr& graph, const std::vector<std::string>& ids,
                                            int64_t runId) {
  // Providers are held for the duration (a spec reload may replace them meanwhile).
  std::map<std::string, std::shared_ptr<Provider>> held;
  std::mutex heldMu;
  PlanStageInput in;
  in.graph = graph;
  in.ids = ids;
  in.pruneRank = deps_.pruneRank;
  in.providerFor = [&](const std::string& n) -> Provider* {
    std::lock_guard lk(heldMu);
    auto& p = held[n];
    if (!p) p = providerRef(n);
    return p.get();
  };
  in.privateData = [this](const std::string& id) {
    std::lock_guard lk(privMu_);
    auto it = privateData_.find(id);
    return it == privateData_.end() ? nlohmann::json() : it->second;
  };
  uint64_t callId = 0;
  in.ctx = callContext("", nullptr, runId, callId);
  in.metrics = deps_.metrics;
  auto entries = planStage(in);
  endCall(callId);
  return entries;
}

RunResult EngineImpl::dryRun(const RunRequest& req, int64_t runId, int64_t startedMs) {
  auto t0 = SteadyClock::now();
  auto graph = desired();
  auto entries = planWith(graph, req.resources, runId);
  RunResult result;
  result.runId = runId;
  result.startedUnixMs = startedMs;
  {
    std::lock_guard lk(statusMu_);
    for (auto& e : entries) {
      if (e.prune) {
        result.changed++;
        continue;
      }
      auto it = statusById_.find(e.action.id);
      if (e.error) {
        result.failed++;
        if (it != statusById_.end()) {
          it->second.phase = "failed";
          it->second.message = *e.error;
        }
      } else if (e.action.action != Action::Noop || e.action.conflict) {
        if (e.action.conflict) result.failed++;
        else result.changed++;
        if (it != statusById_.end()) {
          it->second.phase = e.action.conflict ? "failed" : "pending";
          it->second.message = redact(e.action.conflict ? e.action.reason : "would " + describe(e.action));
        }
      } else {
        result.ready++;
      }
    }
  }
  result.result = result.failed > 0 ? "failed" : "success";
  result.finishedUnixMs = unixMs(*clock_);
  if (deps_.state && runId) {
    RunRecord rr;
    rr.id = runId;
    rr.startedUnixMs = startedMs;
    rr.finishedUnixMs = result.finishedUnixMs;
    rr.result = result.result;
    rr.revision = graph->revision;
    rr.trigger = req.trigger;
    rr.dryRun = true;
    rr.summary = std::to_string(result.ready) + " ready, " + std::to_string(result.failed) + " failed, 0 blocked, " +
                 std::to_string(result.changed) + " to change";
    auto r = deps_.state->finishRun(rr);
    if (!r) log::error("state: finishRun failed: " + r.error().message);
  }
  recomputeCounts();
  if (deps_.metrics)
    deps_.metrics->runFinished(result.result, std::chrono::duration<double>(SteadyClock::now() - t0).count());
  return result;
}

Result<std::vector<PlannedAction>> EngineImpl::plan(const std::vector<std::string>& ids) {
  auto graph = desired();
  if (!graph) return makeError("no desired state loaded");
  auto entries = planWith(graph, ids, 0);
  std::vector<PlannedAction> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(std::move(e.action));
  return out;
}

std::shared_ptr<Provider> EngineImpl::providerRef(const std::string& name) {
  if (deps_.providerRef) return deps_.providerRef(name);
  if (!deps_.providerFor) return nullptr;
  Provider* p = deps_.providerFor(name);
  if (!p) return nullptr;
  return std::shared_ptr<Provider>(p, [](Provider*) {});  // owned by the caller
}

CallContext EngineImpl::callContext(const std::string& providerName, const Provider* p, int64_t runId,
                                    uint64_t& callId) {
  CallContext ctx;
  auto sig = CancelSignal::make();
  ctx.cancel = sig;
  ctx.cancelled = sig->flag();
  ctx.secrets = deps_.secrets;
  auto graph = desired();
  ctx.environment = opts_.environment.empty() && graph ? graph->environment : opts_.environment;
  // tendd --call-timeout NAME=D, then the spec's reconcile.call_timeout, then the
  // provider's own default, then the engine's.
  std::chrono::milliseconds timeout = opts_.callTimeout;
  if (auto it = opts_.callTimeouts.find(providerName); it != opts_.callTimeouts.end()) {
    timeout = it->second;
  } else if (graph && graph->callTimeouts.count(providerName)) {
    timeout = graph->callTimeouts.at(providerName);
  } else if (p && p->defaultCallTimeout().count() > 0) {
    timeout = p->defaultCallTimeout();
  }
  ctx.deadline = SteadyClock::now() + timeout;
  ctx.progress = [this, runId](const std::string& id, const std::string& message) {
    auto msg = redact(message);
    log::info(msg, {{"resource", id}});
    {
      // Progress is chatty (image pulls): at most one event per resource per second.
      std::lock_guard lk(progressMu_);
      auto now = SteadyClock::now();
      auto& last = lastProgress_[id];
      if (now - last < std::chrono::seconds(1)) return;
      last = now;
    }
    if (deps_.state) {
      EventRecord ev{0, unixMs(*clock_), "info", id, "Progress", msg, runId};
      auto r = deps_.state->appendEvent(ev);
      if (!r) log::warn("state: progress event not recorded: " + r.error().message);
    }
  };
  {
    std::lock_guard lk(callsMu_);
    callId = ++callSeq_;
    calls_[callId] = CallEntry{sig, ctx.deadline};
    bool cancelling;
    {
      // A cancel() that already ran must reach calls started after it too (until the loop
      // took it); cheap: the flag is read under the inbox lock only here.
      std::lock_guard l2(mu_);
      cancelling = cancelRequested_ || stop_;
    }
    if (cancelling) sig->cancel();
  }
  return ctx;
}

void EngineImpl::endCall(uint64_t callId) {
  std::lock_guard lk(callsMu_);
  calls_.erase(callId);
}

}  // namespace engine
}  // namespace tend
