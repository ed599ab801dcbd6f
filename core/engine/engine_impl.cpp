#include "core/engine/engine_impl.h"

#include <algorithm>
#include <deque>
#include <cstdio>
#include <exception>
#include <functional>
#include <thread>
#include <unordered_set>

#include "core/log.h"
#include "core/secrets.h"

namespace tend {

std::unique_ptr<Engine> makeEngine(EngineDeps deps, EngineOptions opts) {
  return std::make_unique<engine::EngineImpl>(std::move(deps), std::move(opts));
}

namespace engine {
namespace {

constexpr const char* kNoHostMessage = "no host configuration (no ssh provider configured)";
using SteadyClock = std::chrono::steady_clock;

std::string redact(std::string s) { return Redactor::instance().redact(std::move(s)); }

double secondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::string joinDiagnostics(const Diagnostics& d) {
  std::string out;
  for (const auto& x : d) {
    if (x.severity != Severity::Error) continue;
    if (!out.empty()) out += "; ";
    out += x.message;
  }
  return out;
}

// Provider calls: no exception crosses the boundary by contract; a provider that throws anyway
// is turned into an error value here (reported, never swallowed).
ObserveResponse safeObserve(Provider& p, const std::string& providerName, const ObserveRequest& req,
                            MetricsSink* metrics) {
  auto t0 = SteadyClock::now();
  ObserveResponse resp;
  try {
    resp = p.observe(req);
  } catch (const std::exception& e) {
    resp = ObserveResponse{};
    for (const auto* d : req.desired)
      if (d) resp.errors[d->id] = makeError(std::string("observe failed: ") + e.what());
    resp.diagnostics.push_back(Diagnostic{Severity::Error, {}, std::string("observe threw: ") + e.what()});
  }
  // A call that failed as a whole without saying which ids fails every requested id.
  if (hasErrors(resp.diagnostics) && resp.observed.empty() && resp.errors.empty()) {
    auto msg = joinDiagnostics(resp.diagnostics);
    for (const auto* d : req.desired)
      if (d) resp.errors[d->id] = makeError(msg);
  }
  bool ok = resp.errors.empty() && !hasErrors(resp.diagnostics);
  if (metrics) metrics->providerRequest(providerName, ok ? "ok" : "error", secondsSince(t0));
  return resp;
}

Result<PlannedAction> safePlan(const Provider& p, const DesiredResource* desired,
                               const ObservedResource* observed) {
  try {
    PlannedAction a = p.plan(PlanRequest{desired, observed});
    if (desired) {
      a.id = desired->id;
      if (a.kind.empty()) a.kind = desired->kind;
    } else if (observed) {
      a.id = observed->id;
      if (a.kind.empty()) a.kind = kindOfId(observed->id);
    }
    return a;
  } catch (const std::exception& e) {
    return makeError(std::string("plan failed: ") + e.what());
  }
}

ApplyResponse safeApply(Provider& p, const std::string& providerName, const ApplyRequest& req,
                        MetricsSink* metrics) {
  auto t0 = SteadyClock::now();
  ApplyResponse resp;
  try {
    resp = p.apply(req);
  } catch (const std::exception& e) {
    resp = ApplyResponse{};
    resp.outcome = Outcome::Failed;
    resp.message = std::string("apply threw: ") + e.what();
  }
  if (resp.outcome != Outcome::Ok && resp.outcome != Outcome::Progressing &&
      resp.outcome != Outcome::Failed) {
    resp.outcome = Outcome::Failed;
    resp.message = "provider returned an invalid outcome";
  }
  if (metrics)
    metrics->providerRequest(providerName, resp.outcome == Outcome::Failed ? "error" : "ok",
                             secondsSince(t0));
  return resp;
}

const char* eventReason(Action a, bool drift) {
  if (drift) return "DriftCorrected";
  switch (a) {
    case Action::Create: return "Created";
    case Action::Update: return "Updated";
    case Action::Replace: return "Replaced";
    case Action::Delete: return "Deleted";
    case Action::Noop: return "Noop";
  }
  return "Applied";
}

std::string describe(const PlannedAction& a) {
  std::string s = actionName(a.action);
  if (!a.reason.empty()) s += " (" + a.reason + ")";
  return s;
}

enum class St { Waiting, Queued, Running, Delayed, Ready, Failed, Planned };


}  // namespace

// The DAG of one pass as indices: built once per graph for full passes (a no-op pass must not
// rebuild 10,000 hash entries), per pass for partial ones.
struct GraphIndex {
  DesiredGraphPtr graph;
  std::vector<int> members;                    // node i -> graph->resources index
  std::unordered_map<std::string, int> index;  // id -> node i
  std::vector<std::vector<int>> deps;          // node i -> nodes it depends on
  std::vector<std::vector<int>> dependents;
  std::vector<std::vector<std::string>> external;  // deps outside the pass (or the graph)
};

std::shared_ptr<GraphIndex> buildGraphIndex(const DesiredGraphPtr& graph,
                                            const std::unordered_set<std::string>* selected) {
  auto gi = std::make_shared<GraphIndex>();
  gi->graph = graph;
  for (size_t k = 0; k < graph->resources.size(); ++k) {
    const auto& r = graph->resources[k];
    if (selected && !selected->count(r.id)) continue;
    gi->index.emplace(r.id, static_cast<int>(gi->members.size()));
    gi->members.push_back(static_cast<int>(k));
  }
  size_t n = gi->members.size();
  gi->deps.resize(n);
  gi->dependents.resize(n);
  gi->external.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& d : graph->resources[gi->members[i]].dependsOn) {
      auto it = gi->index.find(d);
      if (it == gi->index.end()) {
        gi->external[i].push_back(d);
        continue;
      }
      gi->deps[i].push_back(it->second);
      gi->dependents[it->second].push_back(static_cast<int>(i));
    }
  }
  return gi;
}

struct Node {
  const DesiredResource* res = nullptr;
  const ResourceRecord* prev = nullptr;  // its entry in persisted_ (looked up once per pass)
  Provider* provider = nullptr;
  bool noneProvider = false;
  std::optional<std::string> unavailable;
  St st = St::Waiting;
  Phase phase = Phase::Pending;
  std::string message;
  std::optional<ObservedResource> observed;
  std::optional<Error> observeError;
  bool needObserve = false;
  std::optional<PlannedAction> plan;
  int attempts = 0;
  int failures = 0;  // in this pass; bounds retries (re-checks of progressing ones do not)
  bool drifted = false;
  bool applied = false;
  bool recorded = false;
  bool adopted = false;
  bool conflict = false;
  int unready = 0;
  std::set<int> startedDeps;  // deps counted as satisfied while only started (service_started)
  std::vector<std::string> externalUnready;
  bool statusDirty = false;
};

struct PruneNode {
  std::string id, kind, providerName;
  Provider* provider = nullptr;
  ObservedResource observed;
  int rank = 0;
  St st = St::Waiting;
  Phase phase = Phase::Deleting;
  std::string message;
  std::vector<int> waitGraph;
  int attempts = 0;
};

struct Completion {
  bool prune = false;
  int idx = 0;
  std::optional<Error> error;
  bool observedFresh = false;
  std::optional<ObservedResource> observed;
  std::optional<PlannedAction> plan;
  bool applied = false;
  ApplyResponse resp;
  std::optional<ResourceRecord> recorded;
};

struct RunState {
  DesiredGraphPtr graph;
  std::shared_ptr<const GraphIndex> gi;  // nodes, their dependency edges (cached per graph)
  RunRequest req;
  bool dryRun = false;
  bool full = true;
  int64_t runId = 0;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> cancelRequested{false};  // by cancel(), as opposed to a timeout
  CallContext ctx;
  std::vector<Node> nodes;
  std::vector<PruneNode> prunes;
  std::unordered_map<std::string, int> pruneIndex;

  std::mutex mu;  // guards completions and observe results (written by workers)
  std::condition_variable cv;
  std::deque<Completion> completions;
  std::vector<std::optional<ObserveResponse>> observeResults;
  size_t observesDone = 0;

  void post(Completion c) {
    {
      std::lock_guard lk(mu);
      completions.push_back(std::move(c));
    }
    cv.notify_all();
  }
};

namespace {

struct TaskInput {
  bool prune = false;
  int idx = 0;
  std::string id;
  std::string kind;
  const DesiredResource* desired = nullptr;
  std::string providerName;
  Provider* provider = nullptr;
  std::optional<ObservedResource> observed;
  std::optional<PlannedAction> plan;
  bool observeFirst = false;
  CallContext ctx;
  std::optional<ResourceRecord> prev;
  int64_t runId = 0;
  StateStore* store = nullptr;
  MetricsSink* metrics = nullptr;
  const Clock* clock = nullptr;
};

int64_t unixMs(const Clock& c) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(c.wallNow().time_since_epoch()).count();
}

// One unit of work on the pool: (re-observe) → plan → apply → record. The record and its event
// are written right after the provider returns, in one store transaction.
Completion runTask(TaskInput in) {
  Completion c;
  c.prune = in.prune;
  c.idx = in.idx;
  std::optional<ObservedResource> obs = std::move(in.observed);
  if (in.observeFirst && in.desired) {
    ObserveRequest oreq;
    oreq.desired = {in.desired};
    oreq.includeOwned = false;
    oreq.ctx = in.ctx;
    auto resp = safeObserve(*in.provider, in.providerName, oreq, in.metrics);
    if (auto e = resp.errors.find(in.id); e != resp.errors.end()) {
      c.error = e->second;
      return c;
    }
    obs.reset();
    if (auto o = resp.observed.find(in.id); o != resp.observed.end()) {
      obs = std::move(o->second);
      obs->id = in.id;
    }
    c.observedFresh = true;
    c.observed = obs;
  }
  PlannedAction plan;
  if (in.plan && !in.observeFirst) {
    plan = *in.plan;
  } else {
    auto p = safePlan(*in.provider, in.desired, obs ? &*obs : nullptr);
    if (!p) {
      c.error = p.error();
      return c;
    }
    plan = std::move(*p);
  }
  c.plan = plan;
  if (plan.conflict || plan.action == Action::Noop) return c;
  if (in.ctx.isCancelled()) {
    c.error = makeError("cancelled before apply");
    return c;
  }

  ApplyRequest areq;
  areq.action = plan;
  areq.desired = in.desired;
  areq.observed = obs ? &*obs : nullptr;
  areq.ctx = in.ctx;
  c.resp = safeApply(*in.provider, in.providerName, areq, in.metrics);
  c.applied = true;

  auto nowMs = unixMs(*in.clock);
  EventRecord ev;
  ev.unixMs = nowMs;
  ev.resource = in.id;
  ev.runId = in.runId;
  std::string detail = c.resp.message.empty() ? "" : ": " + c.resp.message;
  if (c.resp.outcome == Outcome::Failed) {
    ev.level = "error";
    ev.reason = "Failed";
    ev.message = redact(describe(plan) + " failed" + detail);
  } else {
    ev.level = "info";
    ev.reason = eventReason(plan.action, plan.drift);
    ev.message = redact(describe(plan) + detail);
  }

  if (in.prune) {
    Result<void> r;
    if (c.resp.outcome == Outcome::Failed) {
      auto a = in.store->appendEvent(ev);
      if (!a) r = a.error();
    } else {
      r = in.store->recordDelete(in.id, ev);
    }
    if (!r) log::error("state: recording a prune failed: " + r.error().message, {{"resource", in.id}});
    return c;
  }

  ResourceRecord rec = in.prev ? *in.prev : ResourceRecord{};
  rec.id = in.id;
  rec.kind = in.kind;
  rec.desiredHash = in.desired->hash;
  rec.dependsOn = in.desired->dependsOn;
  rec.updatedUnix = nowMs / 1000;
  if (c.resp.outcome == Outcome::Failed) {
    rec.phase = Phase::Failed;
    rec.message = redact(c.resp.message.empty() ? describe(plan) + " failed" : c.resp.message);
  } else {
    rec.lastAppliedHash = in.desired->hash;
    rec.lastAppliedUnix = nowMs / 1000;
    if (!c.resp.ownerData.is_null()) rec.ownerData = c.resp.ownerData;
    rec.phase = c.resp.outcome == Outcome::Ok ? Phase::Ready : Phase::Progressing;
    rec.message = redact(c.resp.message.empty() ? describe(plan) : c.resp.message);
    rec.drifted = plan.drift;
  }
  auto r = in.store->recordApply(rec, ev);
  if (!r) log::error("state: recording an apply failed: " + r.error().message, {{"resource", in.id}});
  else c.recorded = rec;
  return c;
}

}  // namespace

struct EngineImpl::PendingRun {
  RunRequest req;
  bool done = false;
  RunResult result;
};

int EngineImpl::pruneRank(const std::string& kind) const {
  return deps_.pruneRank ? deps_.pruneRank(kind) : 0;  // registered with the provider's kinds
}

EngineImpl::EngineImpl(EngineDeps deps, EngineOptions opts)
    : deps_(std::move(deps)), opts_(std::move(opts)) {
  clock_ = deps_.clock ? deps_.clock : &systemClock_;
  WorkQueueOptions qo;
  qo.backoffBase = opts_.backoffBase;
  qo.backoffCap = opts_.backoffCap;
  qo.ratePerSecond = opts_.globalRatePerSecond;
  queue_ = std::make_unique<WorkQueue>(*clock_, qo);
  pool_ = std::make_unique<ThreadPool>(std::max(1, opts_.workers));

  // Seed last-known status from the store so a restarted daemon shows it before its first pass.
  if (deps_.state) {
    auto recs = deps_.state->loadResources();
    if (!recs) {
      log::error("state: loading resources failed: " + recs.error().message);
    } else {
      std::set<std::string> kinds;
      for (auto& r : *recs) {
        ResourceStatus s;
        s.id = r.id;
        s.kind = r.kind;
        s.phase = phaseName(r.phase);
        s.message = r.message;
        s.drifted = r.drifted;
        s.lastAppliedUnix = r.lastAppliedUnix;
        s.dependsOn = r.dependsOn;
        statusOrder_.push_back(r.id);
        statusById_[r.id] = std::move(s);
        kinds.insert(r.kind);
        persisted_[r.id] = std::move(r);
      }
      for (auto& k : kinds) {
        auto m = deps_.state->getMeta("kind_provider/" + k);
        if (m && m->has_value()) kindProvider_[k] = **m;
      }
    }
  }
}

EngineImpl::~EngineImpl() {
  cancel();
  {
    std::unique_lock lk(runMu_);
    runCv_.wait(lk, [this] { return !running_; });
  }
  queue_->shutDown();
  pool_.reset();  // joins workers; queued tasks finish against still-alive members
}

Provider* EngineImpl::providerFor(const std::string& name) const {
  if (!deps_.providerFor) return nullptr;
  return deps_.providerFor(name);
}

int64_t EngineImpl::nowUnixMs() const { return unixMs(*clock_); }

void EngineImpl::setDesired(DesiredGraphPtr graph) {
  {
    std::lock_guard lk(graphMu_);
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
        s = it->second;
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
  std::lock_guard lk(runMu_);
  return waiting_;
}

void EngineImpl::cancel() {
  {
    std::lock_guard lk(runMu_);
    if (running_ && !current_) cancelPending_ = true;  // the pass has not set up its state yet
    if (current_) {
      current_->cancelRequested = true;
      current_->cancelled = true;
      {
        std::lock_guard rl(current_->mu);
      }
      current_->cv.notify_all();
    }
    if (next_ && !next_->done) {
      next_->done = true;
      next_->result.result = "cancelled";
      next_->result.startedUnixMs = next_->result.finishedUnixMs = nowUnixMs();
      next_.reset();
    }
  }
  runCv_.notify_all();
  std::lock_guard lk(cancelMu_);
  for (auto* f : planFlags_) f->store(true);
}

RunResult EngineImpl::run(const RunRequest& req) {
  std::unique_lock lk(runMu_);
  std::shared_ptr<PendingRun> slot;
  // Coalescing: requests arriving while a pass runs join the one queued pass (their resource
  // sets merge; "all" absorbs any subset). Dry and real passes never merge.
  for (;;) {
    if (!next_) {
      next_ = std::make_shared<PendingRun>();
      next_->req = req;
      slot = next_;
      break;
    }
    if (next_->req.dryRun == req.dryRun && next_->req.untilSettled == req.untilSettled) {
      auto& m = next_->req.resources;
      if (m.empty() || req.resources.empty()) {
        m.clear();
      } else {
        std::set<std::string> u(m.begin(), m.end());
        for (auto& r : req.resources)
          if (u.insert(r).second) m.push_back(r);
      }
      slot = next_;
      break;
    }
    runCv_.wait(lk);
  }
  ++waiting_;
  runCv_.wait(lk, [&] { return slot->done || (!running_ && next_ == slot); });
  --waiting_;
  if (slot->done) return slot->result;
  next_.reset();
  running_ = true;
  runCv_.notify_all();
  lk.unlock();
  RunResult r = execute(slot->req);
  lk.lock();
  running_ = false;
  cancelPending_ = false;
  current_.reset();
  slot->result = r;
  slot->done = true;
  runCv_.notify_all();
  return r;
}

void EngineImpl::publishStatus(RunState& rs, bool final) {
  // A spec swapped in during the pass owns the status list: only refresh ids it still has.
  bool current = desired() == rs.graph;
  std::lock_guard lk(statusMu_);
  for (auto& n : rs.nodes) {
    if (!final && !n.statusDirty) continue;
    n.statusDirty = false;
    if (!current && !statusById_.count(n.res->id)) continue;
    auto& s = statusById_[n.res->id];
    if (s.id.empty()) statusOrder_.push_back(n.res->id);
    s.id = n.res->id;
    s.kind = n.res->kind;
    s.phase = phaseName(n.phase);
    s.message = n.message;
    s.drifted = n.drifted;
    s.dependsOn = n.res->dependsOn;
    if (n.prev) s.lastAppliedUnix = n.prev->lastAppliedUnix;
  }
  bool removed = false;
  for (auto& p : rs.prunes) {
    if (p.st == St::Ready) {
      if (statusById_.erase(p.id)) removed = true;
      continue;
    }
    if (p.st == St::Planned) continue;
    auto& s = statusById_[p.id];
    if (s.id.empty()) statusOrder_.push_back(p.id);
    s.id = p.id;
    s.kind = p.kind;
    s.phase = phaseName(p.phase);
    s.message = p.message;
  }
  if (removed) {
    statusOrder_.erase(std::remove_if(statusOrder_.begin(), statusOrder_.end(),
                                      [&](const std::string& id) { return !statusById_.count(id); }),
                       statusOrder_.end());
  }
}

RunResult EngineImpl::execute(const RunRequest& req) {
  passes_++;
  auto t0 = SteadyClock::now();
  RunResult result;
  result.startedUnixMs = nowUnixMs();
  auto graph = desired();
  auto rs = std::make_shared<RunState>();
  rs->graph = graph;
  rs->req = req;
  rs->dryRun = req.dryRun || opts_.dryRun;
  rs->full = req.resources.empty();
  {
    std::lock_guard lk(runMu_);
    current_ = rs;
    if (cancelPending_) {
      rs->cancelRequested = true;
      rs->cancelled = true;
      cancelPending_ = false;
    }
  }
  if (!graph) {
    result.result = "failed";
    result.finishedUnixMs = nowUnixMs();
    log::warn("reconcile: no desired state loaded");
    return result;
  }

  // Never two workers on one key: a previous pass abandoned after cancel/timeout may still
  // have provider calls in flight; wait for them before touching the same ids again.
  for (int i = 0; queue_->processingLen() > 0 && !rs->cancelled; ++i) {
    if (i % 1000 == 999) log::warn("reconcile: waiting for provider calls of the previous pass");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  StateStore* store = deps_.state;
  MetricsSink* metrics = deps_.metrics;
  if (store) {
    RunRecord rr;
    rr.startedUnixMs = result.startedUnixMs;
    rr.result = "running";
    rr.revision = graph->revision;
    rr.trigger = req.trigger;
    rr.dryRun = rs->dryRun;
    auto b = store->beginRun(rr);
    if (b) rs->runId = *b;
    else log::error("state: beginRun failed: " + b.error().message);
  }
  result.runId = rs->runId;
  auto runDeadline = clock_->now() + opts_.runTimeout;

  auto& ctx = rs->ctx;
  ctx.deadline = SteadyClock::now() + opts_.runTimeout;
  ctx.cancelled = &rs->cancelled;
  ctx.secrets = deps_.secrets;
  ctx.environment = opts_.environment.empty() ? graph->environment : opts_.environment;
  {
    int64_t runId = rs->runId;
    ctx.progress = [this, runId](const std::string& id, const std::string& message) {
      auto msg = redact(message);
      log::info(msg, {{"resource", id}});
      // Progress is chatty (image pulls): at most one event per resource per second.
      {
        std::lock_guard lk(progressMu_);
        auto now = SteadyClock::now();
        auto& last = lastProgress_[id];
        if (now - last < std::chrono::seconds(1)) return;
        last = now;
      }
      if (deps_.state) {
        EventRecord ev{0, nowUnixMs(), "info", id, "Progress", msg, runId};
        auto r = deps_.state->appendEvent(ev);
        if (!r) log::warn("state: progress event not recorded: " + r.error().message);
      }
    };
  }

  // ---- nodes -------------------------------------------------------------------------------
  if (rs->full) {
    if (!graphIndex_ || graphIndex_->graph != graph) graphIndex_ = buildGraphIndex(graph, nullptr);
    rs->gi = graphIndex_;
  } else {
    std::unordered_set<std::string> selected(req.resources.begin(), req.resources.end());
    rs->gi = buildGraphIndex(graph, &selected);
  }
  const GraphIndex& gi = *rs->gi;
  rs->nodes.resize(gi.members.size());
  for (size_t i = 0; i < gi.members.size(); ++i) {
    auto& n = rs->nodes[i];
    n.res = &graph->resources[gi.members[i]];
    if (auto it = persisted_.find(n.res->id); it != persisted_.end()) n.prev = &it->second;
    n.unready = static_cast<int>(gi.deps[i].size());
  }
  queue_->forgetAll();  // each pass starts with a fresh retry budget
  // Dependencies outside a partial pass count when their last known phase is ready; ids that
  // are not in the graph at all never do.
  {
    std::unique_lock lk(statusMu_, std::defer_lock);
    if (!rs->full) lk.lock();
    for (size_t i = 0; i < gi.external.size(); ++i)
      for (const auto& d : gi.external[i]) {
        if (!rs->full && graph->find(d)) {
          auto it = statusById_.find(d);
          if (it != statusById_.end() && it->second.phase == "ready") continue;
        }
        rs->nodes[i].externalUnready.push_back(d);
      }
  }
  std::map<std::string, Provider*> providers;  // by name, for the observe stage
  std::map<std::string, std::vector<int>> byProvider;
  for (int i = 0; i < static_cast<int>(rs->nodes.size()); ++i) {
    auto& n = rs->nodes[i];
    const auto& pname = n.res->provider;
    if (pname == "none") {
      n.noneProvider = true;
      continue;
    }
    auto pit = providers.find(pname);
    Provider* p = pit != providers.end() ? pit->second : (providers[pname] = providerFor(pname));
    if (!p) {
      n.unavailable = "provider '" + pname + "' is not built into this tend";
      continue;
    }
    n.provider = p;
    byProvider[pname].push_back(i);
  }
  for (auto it = providers.begin(); it != providers.end();)
    it = it->second ? std::next(it) : providers.erase(it);

  // Providers that once made objects of kinds no longer in the spec are observed too, so what
  // left the spec entirely can still be pruned.
  if (rs->full) {
    for (auto& [id, rec] : persisted_) {
      if (gi.index.count(id)) continue;
      auto kp = kindProvider_.find(rec.kind);
      if (kp == kindProvider_.end() || providers.count(kp->second)) continue;
      if (Provider* p = providerFor(kp->second)) {
        providers[kp->second] = p;
        byProvider[kp->second];
      }
    }
  }

  // ---- observe: one call per provider, in parallel --------------------------------------------
  std::vector<std::string> observeOrder;
  for (auto& [name, idxs] : byProvider) observeOrder.push_back(name);
  rs->observeResults.resize(observeOrder.size());
  for (size_t k = 0; k < observeOrder.size(); ++k) {
    ObserveRequest oreq;
    for (int i : byProvider[observeOrder[k]]) oreq.desired.push_back(rs->nodes[i].res);
    oreq.includeOwned = rs->full;
    oreq.ctx = ctx;
    Provider* p = providers[observeOrder[k]];
    std::string pname = observeOrder[k];
    auto task = [rs, k, p, pname, oreq = std::move(oreq), metrics]() {
      auto resp = safeObserve(*p, pname, oreq, metrics);
      {
        std::lock_guard lk(rs->mu);
        rs->observeResults[k] = std::move(resp);
        rs->observesDone++;
      }
      rs->cv.notify_all();
    };
    // The last observe runs on this thread: with one provider a pass needs no thread hand-off
    // (providers honour ctx.cancelled, so cancel() still ends it promptly).
    if (k + 1 == observeOrder.size()) task();
    else pool_->submit(std::move(task));
  }
  {
    std::unique_lock lk(rs->mu);
    rs->cv.wait(lk, [&] { return rs->observesDone == observeOrder.size() || rs->cancelled.load(); });
    if (rs->observesDone != observeOrder.size())
      rs->cv.wait_for(lk, opts_.cancelGrace, [&] { return rs->observesDone == observeOrder.size(); });
  }
  std::set<std::string> observedOk;  // providers whose observation succeeded as a whole
  std::vector<ObserveResponse> observations(observeOrder.size());
  std::vector<bool> returned(observeOrder.size(), false);
  {
    std::lock_guard lk(rs->mu);
    for (size_t k = 0; k < observeOrder.size(); ++k) {
      returned[k] = rs->observeResults[k].has_value();
      if (returned[k]) observations[k] = std::move(*rs->observeResults[k]);
      else
        for (int i : byProvider[observeOrder[k]])
          observations[k].errors[rs->nodes[i].res->id] = makeError("observe did not return (cancelled)");
    }
  }
  struct Candidate {
    std::string id, providerName;
    Provider* provider;
    ObservedResource observed;
  };
  std::vector<Candidate> candidates;
  std::set<std::string> seenIds;  // observed to exist, any provider
  for (size_t k = 0; k < observeOrder.size(); ++k) {
    auto& resp = observations[k];
    const auto& pname = observeOrder[k];
    Provider* p = providers[pname];
    if (!hasErrors(resp.diagnostics) && resp.errors.empty() && returned[k])
      observedOk.insert(pname);
    for (auto& [id, err] : resp.errors)
      if (auto it = gi.index.find(id); it != gi.index.end() && rs->nodes[it->second].provider == p)
        rs->nodes[it->second].observeError = err;
    // One walk over the answer (not a lookup per resource: the answer is an ordered map).
    for (auto o = resp.observed.begin(); o != resp.observed.end();) {
      auto it = gi.index.find(o->first);
      if (it == gi.index.end() || rs->nodes[it->second].provider != p ||
          rs->nodes[it->second].observeError) {
        ++o;
        continue;
      }
      auto& n = rs->nodes[it->second];
      if (o->second.id != n.res->id) {
        log::warn("provider " + pname + " answered id '" + o->second.id + "' under '" + n.res->id + "'");
        o->second.id = n.res->id;
      }
      n.observed = std::move(o->second);
      o = resp.observed.erase(o);
    }
    if (!rs->full) continue;
    std::set<std::string> kinds;
    try {
      for (auto& kd : p->kinds()) kinds.insert(kd);
    } catch (const std::exception& e) {
      log::error("provider " + pname + " kinds() threw: " + e.what());
    }
    for (auto& [id, o] : resp.observed) {
      if (!o.exists || id.empty()) continue;
      seenIds.insert(id);
      if (gi.index.count(id) || graph->find(id)) continue;
      // Garbage guard: only well-formed, marked objects of this provider's kinds are candidates.
      if (o.id != id || !o.owned || id.find('/') == std::string::npos || !kinds.count(kindOfId(id))) {
        if (o.id != id || id.find('/') == std::string::npos)
          log::warn("provider " + pname + " reported a malformed object id '" + id + "'; ignored");
        continue;
      }
      candidates.push_back(Candidate{id, pname, p, o});
    }
  }

  // ---- prune candidates ----------------------------------------------------------------------
  bool pruneEnabled = rs->full && graph->prune;
  if (rs->full && !graph->prune && !candidates.empty())
    log::info(std::to_string(candidates.size()) + " owned objects are no longer in the spec; prune is off");
  if (pruneEnabled) {
    for (auto& c : candidates) {
      PruneNode pn;
      pn.id = c.id;
      pn.kind = kindOfId(c.id);
      pn.providerName = c.providerName;
      pn.provider = c.provider;
      pn.observed = std::move(c.observed);
      pn.rank = pruneRank(pn.kind);
      pn.message = "to be deleted (not in the spec)";
      rs->pruneIndex[pn.id] = static_cast<int>(rs->prunes.size());
      rs->prunes.push_back(std::move(pn));
    }
    // A graph resource that (per its last record) depended on a pruned object is updated
    // first (e.g. dnsconf stops naming a zone before the zone's file goes).
    for (int i = 0; i < static_cast<int>(rs->nodes.size()) && !rs->prunes.empty(); ++i) {
      auto& n = rs->nodes[i];
      if (n.prev)
        for (auto& d : n.prev->dependsOn)
          if (auto p = rs->pruneIndex.find(d); p != rs->pruneIndex.end())
            rs->prunes[p->second].waitGraph.push_back(i);
      if (n.res->kind == "dnsconf")
        for (auto& p : rs->prunes)
          if (p.kind == "zone" && std::find(p.waitGraph.begin(), p.waitGraph.end(), i) == p.waitGraph.end())
            p.waitGraph.push_back(i);
    }
  }

  // ---- the walk ------------------------------------------------------------------------------
  std::deque<int> worklist;
  std::map<std::string, int> providerInflight;
  std::map<std::string, std::deque<std::pair<bool, int>>> held;
  int inflight = 0;
  int changed = 0;
  auto parallelismOf = [&](const std::string& pname) {
    auto it = graph->parallelism.find(pname);
    int n = 4;
    if (it != graph->parallelism.end()) {
      n = it->second;
    } else if (auto p = providers.find(pname); p != providers.end() && p->second &&
                                                 p->second->defaultParallelism() > 0) {
      n = p->second->defaultParallelism();
    }
    return std::max(1, n);
  };

  auto settleReady = [&](int i, std::string msg) {
    auto& n = rs->nodes[i];
    n.st = St::Ready;
    n.phase = Phase::Ready;
    n.message = redact(std::move(msg));
    n.statusDirty = true;
    queue_->forget(n.res->id);
    for (int d : gi.dependents[i]) {
      auto& dn = rs->nodes[d];
      if (dn.startedDeps.count(i)) continue;  // already released when it started
      if (--dn.unready == 0 && dn.externalUnready.empty() && dn.st == St::Waiting) worklist.push_back(d);
    }
  };
  // A dependency that is started but not ready releases the dependents that need no more.
  auto releaseStarted = [&](int i) {
    for (int d : gi.dependents[i]) {
      auto& dn = rs->nodes[d];
      if (dn.startedDeps.count(i) || !dn.provider || !dn.provider->startedSuffices(*dn.res, rs->nodes[i].res->id))
        continue;
      dn.startedDeps.insert(i);
      if (--dn.unready == 0 && dn.externalUnready.empty() && dn.st == St::Waiting) worklist.push_back(d);
    }
  };
  auto settleFailed = [&](int i, std::string msg) {
    auto& n = rs->nodes[i];
    n.st = St::Failed;
    n.phase = Phase::Failed;
    n.message = redact(std::move(msg));
    n.statusDirty = true;
  };
  auto progressing = [&](int i, std::string msg, std::optional<Clock::Duration> after,
                         bool started = false) {
    auto& n = rs->nodes[i];
    if (started) releaseStarted(i);
    n.phase = Phase::Progressing;
    n.message = redact(std::move(msg));
    n.statusDirty = true;
    n.st = St::Delayed;
    n.needObserve = true;
    if (req.untilSettled && !rs->cancelled)
      queue_->addAfter(n.res->id, after ? *after : Clock::Duration(opts_.recheckInterval));
  };
  auto handleFailure = [&](int i, const Error& err) {
    auto& n = rs->nodes[i];
    n.failures++;
    std::string msg = redact(err.message);
    if (err.terminal) {
      queue_->markTerminal(n.res->id, msg);
      settleFailed(i, msg);
      return;
    }
    if (req.untilSettled && !rs->cancelled && n.failures < opts_.maxAttemptsPerRun) {
      auto d = queue_->addRateLimited(n.res->id);
      if (d) {
        n.st = St::Delayed;
        n.needObserve = true;
        n.phase = Phase::Failed;
        auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() / 1000.0;
        char buf[32];
        snprintf(buf, sizeof buf, "%.1fs", secs);
        n.message = msg + " (retrying in " + buf + ")";
        n.statusDirty = true;
        return;
      }
    }
    settleFailed(i, msg);
  };
  auto evaluate = [&](int i) {
    auto& n = rs->nodes[i];
    if (n.st != St::Waiting) return;
    if (n.noneProvider) return settleReady(i, kNoHostMessage);
    if (n.unavailable) {
      queue_->markTerminal(n.res->id, *n.unavailable);
      return settleFailed(i, *n.unavailable);
    }
    if (n.observeError) {
      n.attempts++;
      Error e = *n.observeError;
      n.observeError.reset();
      return handleFailure(i, e);
    }
    auto p = safePlan(*n.provider, n.res, n.observed ? &*n.observed : nullptr);
    if (!p) {
      n.attempts++;
      return handleFailure(i, p.error());
    }
    n.plan = std::move(*p);
    const auto& obs = n.observed;
    if (n.plan->conflict) {
      n.conflict = true;
      queue_->markTerminal(n.res->id, n.plan->reason);
      return settleFailed(i, n.plan->reason.empty() ? "conflict with an object tend does not own"
                                                    : n.plan->reason);
    }
    if (n.plan->action == Action::Noop) {
      n.drifted = false;
      if (obs && obs->owned && obs->exists && obs->appliedHash == n.res->hash) {
        if (!n.prev || n.prev->lastAppliedHash != n.res->hash) n.adopted = true;
      }
      if (obs && obs->exists && obs->failed && !obs->ready) {
        std::string m = obs->message.empty() ? "failed" : obs->message;
        queue_->markTerminal(n.res->id, m);
        return settleFailed(i, std::move(m));
      }
      if (obs && obs->exists && !obs->ready)
        return progressing(i, obs->message.empty() ? "waiting to become ready" : obs->message, std::nullopt,
                           obs->started);
      return settleReady(i, obs && !obs->message.empty() ? obs->message : "up to date");
    }
    if (rs->dryRun) {
      n.st = St::Planned;
      n.phase = Phase::Pending;
      n.message = redact("would " + describe(*n.plan));
      n.statusDirty = true;
      return;
    }
    n.st = St::Queued;
    queue_->add(n.res->id);
  };

  if (rs->dryRun) {
    // Plan everything against what exists now; dependencies cannot become ready without apply.
    for (int i = 0; i < static_cast<int>(rs->nodes.size()); ++i) evaluate(i);
    for (auto& p : rs->prunes) {
      auto a = safePlan(*p.provider, nullptr, &p.observed);
      p.st = St::Planned;
      if (a && a->action != Action::Noop) changed++;
    }
  } else {
    for (int i = 0; i < static_cast<int>(rs->nodes.size()); ++i)
      if (rs->nodes[i].unready == 0 && rs->nodes[i].externalUnready.empty()) worklist.push_back(i);
  }
  auto drain = [&] {
    while (!worklist.empty()) {
      int i = worklist.front();
      worklist.pop_front();
      evaluate(i);
    }
  };
  drain();

  auto start = [&](bool prune, int idx) {
    TaskInput in;
    in.prune = prune;
    in.idx = idx;
    in.ctx = ctx;
    in.runId = rs->runId;
    in.store = store;
    in.metrics = metrics;
    in.clock = clock_;
    if (prune) {
      auto& p = rs->prunes[idx];
      p.st = St::Running;
      p.attempts++;
      p.message = "deleting";
      in.id = p.id;
      in.kind = p.kind;
      in.providerName = p.providerName;
      in.provider = p.provider;
      in.observed = p.observed;
    } else {
      auto& n = rs->nodes[idx];
      n.st = St::Running;
      n.attempts++;
      n.phase = Phase::Progressing;
      if (!n.needObserve && n.plan) n.message = redact(describe(*n.plan));
      n.statusDirty = true;
      in.id = n.res->id;
      in.kind = n.res->kind;
      in.desired = n.res;
      in.providerName = n.res->provider;
      in.provider = n.provider;
      in.observed = n.observed;
      in.plan = n.plan;
      in.observeFirst = n.needObserve;
      if (n.prev) in.prev = *n.prev;
    }
    inflight++;
    providerInflight[in.providerName]++;
    // The task marks its key done itself: a pass abandoned after cancel must not leave the
    // key "processing" forever (the next pass waits for it).
    pool_->submit([rs, q = queue_.get(), in = std::move(in)]() mutable {
      std::string key = in.id;
      auto c = runTask(std::move(in));
      q->done(key);
      rs->post(std::move(c));
    });
  };

  auto dispatchReady = [&] {
    while (auto key = queue_->tryGet()) {
      bool prune = false;
      int idx = -1;
      if (auto it = gi.index.find(*key); it != gi.index.end()) idx = it->second;
      else if (auto pt = rs->pruneIndex.find(*key); pt != rs->pruneIndex.end()) {
        prune = true;
        idx = pt->second;
      }
      if (idx < 0) {  // a stale key of an earlier pass
        queue_->done(*key);
        continue;
      }
      const std::string& pname = prune ? rs->prunes[idx].providerName : rs->nodes[idx].res->provider;
      if (providerInflight[pname] >= parallelismOf(pname)) held[pname].emplace_back(prune, idx);
      else start(prune, idx);
    }
  };

  // Prune nodes whose dependents are gone and whose referencing resources are updated.
  auto prunePrereq = [&](const PruneNode& p) -> std::optional<std::string> {
    for (auto& q : rs->prunes)
      if (q.rank < p.rank && q.st != St::Ready) return q.id;
    for (int i : p.waitGraph)
      if (rs->nodes[i].st != St::Ready) return rs->nodes[i].res->id;
    return std::nullopt;
  };
  auto schedulePrunes = [&] {
    if (rs->dryRun) return;
    for (auto& p : rs->prunes) {
      if (p.st != St::Waiting) continue;
      if (!prunePrereq(p)) {
        p.st = St::Queued;
        p.message = "deleting";
        queue_->add(p.id);
      }
    }
  };

  auto handleCompletion = [&](Completion& c) {
    inflight--;
    if (c.prune) {
      auto& p = rs->prunes[c.idx];
      providerInflight[p.providerName]--;
      if (c.error) {
        p.st = St::Failed;
        p.phase = Phase::Failed;
        p.message = redact(c.error->message);
      } else if (c.plan && c.plan->action != Action::Delete && c.plan->action != Action::Noop) {
        p.st = St::Failed;
        p.phase = Phase::Failed;
        p.message = redact("refusing to prune: provider planned " + describe(*c.plan));
      } else if (!c.applied || c.resp.outcome != Outcome::Failed) {
        p.st = St::Ready;
        if (c.applied) changed++;
        if (!c.applied && store) {  // already gone: just drop the record
          auto r = store->deleteResource(p.id);
          if (!r) log::error("state: " + r.error().message);
        }
        persisted_.erase(p.id);
        log::info("pruned " + p.id);
      } else if (!c.resp.terminal && p.attempts < opts_.maxAttemptsPerRun && req.untilSettled &&
                 !rs->cancelled) {
        p.st = St::Delayed;
        p.phase = Phase::Deleting;
        p.message = redact(c.resp.message) + " (retrying)";
        queue_->addRateLimited(p.id);
      } else {
        p.st = St::Failed;
        p.phase = Phase::Failed;
        p.message = redact(c.resp.message);
      }
      return;
    }
    auto& n = rs->nodes[c.idx];
    providerInflight[n.res->provider]--;
    if (c.observedFresh) n.observed = std::move(c.observed);
    n.needObserve = false;
    if (c.recorded) {
      auto& slot = persisted_[n.res->id];
      slot = *c.recorded;
      n.prev = &slot;
      n.recorded = true;
    }
    if (c.error) return handleFailure(c.idx, *c.error);
    if (c.plan) n.plan = c.plan;
    if (c.plan && c.plan->conflict) {
      n.conflict = true;
      queue_->markTerminal(n.res->id, c.plan->reason);
      return settleFailed(c.idx, c.plan->reason.empty() ? "conflict with an object tend does not own"
                                                        : c.plan->reason);
    }
    if (!c.applied) {
      const auto& obs = n.observed;
      if (obs && obs->exists && obs->failed && !obs->ready) {
        std::string m = obs->message.empty() ? "failed" : obs->message;
        queue_->markTerminal(n.res->id, m);
        return settleFailed(c.idx, std::move(m));
      }
      if (obs && obs->exists && !obs->ready)
        return progressing(c.idx, obs->message.empty() ? "waiting to become ready" : obs->message,
                           std::nullopt, obs->started);
      return settleReady(c.idx, obs && !obs->message.empty() ? obs->message : "up to date");
    }
    n.applied = true;
    changed++;
    bool drift = c.plan && c.plan->drift;
    if (c.resp.outcome != Outcome::Failed) {
      n.drifted = drift;
      if (drift && metrics) metrics->driftCorrected(n.res->kind);
    }
    std::string msg = c.resp.message.empty() && c.plan ? describe(*c.plan) : c.resp.message;
    switch (c.resp.outcome) {
      case Outcome::Ok:
        return settleReady(c.idx, msg);
      case Outcome::Progressing: {
        std::optional<Clock::Duration> after;
        if (c.resp.requeueAfter) after = *c.resp.requeueAfter;
        return progressing(c.idx, msg, after, c.resp.started);
      }
      case Outcome::Failed:
        return handleFailure(c.idx, Error{msg.empty() ? "apply failed" : msg, c.resp.terminal});
    }
  };

  bool timedOut = false;
  auto lastPublish = SteadyClock::now();
  size_t lastDepth = SIZE_MAX;
  schedulePrunes();
  if (!rs->dryRun) {
    for (;;) {
      if (rs->cancelled) break;
      dispatchReady();
      size_t depth = queue_->len();
      if (metrics && depth != lastDepth) {
        metrics->workqueueDepth(depth);
        lastDepth = depth;
      }
      if (inflight == 0 && queue_->readyLen() == 0 && (queue_->delayedLen() == 0 || !req.untilSettled))
        break;
      if (clock_->now() >= runDeadline) {
        timedOut = true;
        break;
      }
      std::deque<Completion> got;
      {
        std::unique_lock lk(rs->mu);
        auto wait = std::chrono::steady_clock::duration(std::chrono::milliseconds(50));
        if (auto next = queue_->nextEventAt()) {
          auto d = *next - clock_->now();
          if (d < wait) wait = std::max<std::chrono::steady_clock::duration>(d, std::chrono::microseconds(50));
        }
        if (rs->completions.empty() && !rs->cancelled) rs->cv.wait_for(lk, wait);
        got.swap(rs->completions);
      }
      for (auto& c : got) {
        handleCompletion(c);
        const std::string& pname = c.prune ? rs->prunes[c.idx].providerName : rs->nodes[c.idx].res->provider;
        auto& h = held[pname];
        while (!h.empty() && providerInflight[pname] < parallelismOf(pname)) {
          auto [prune, idx] = h.front();
          h.pop_front();
          start(prune, idx);
        }
      }
      drain();
      schedulePrunes();
      if (SteadyClock::now() - lastPublish > std::chrono::milliseconds(100)) {
        publishStatus(*rs, false);
        lastPublish = SteadyClock::now();
      }
    }
  }

  // ---- wind down after cancel/timeout: give in-flight calls a bounded grace -------------------
  bool cancelled = rs->cancelRequested.load();
  if (inflight > 0) {
    rs->cancelled = true;
    auto graceEnd = SteadyClock::now() + opts_.cancelGrace;
    while (inflight > 0 && SteadyClock::now() < graceEnd) {
      std::deque<Completion> got;
      {
        std::unique_lock lk(rs->mu);
        rs->cv.wait_until(lk, graceEnd, [&] { return !rs->completions.empty(); });
        got.swap(rs->completions);
      }
      for (auto& c : got) handleCompletion(c);
    }
    if (inflight > 0) log::warn(std::to_string(inflight) + " provider calls still running after the grace period");
  }
  for (auto& [pname, h] : held)
    for (auto [prune, idx] : h) {
      if (prune) rs->prunes[idx].st = St::Queued;
      else rs->nodes[idx].st = St::Queued;
      queue_->done(prune ? rs->prunes[idx].id : rs->nodes[idx].res->id);
    }
  queue_->clearPending();
  if (metrics) metrics->workqueueDepth(0);

  // ---- final phases: blocked with one root cause ---------------------------------------------
  // The first unready dependency that is itself failed or in progress is the root cause; when
  // all unready ones are blocked, the root cause of the first of them (one name, no cascade).
  std::vector<int> rootState(rs->nodes.size(), 0);  // 0 unknown, 1 visiting, 2 done
  std::vector<std::string> rootMemo(rs->nodes.size());
  std::function<std::string(int)> rootCause = [&](int i) -> std::string {
    if (rootState[i] == 2) return rootMemo[i];
    if (rootState[i] == 1) return rs->nodes[i].res->id;  // cycle guard
    rootState[i] = 1;
    auto& n = rs->nodes[i];
    std::string root;
    if (!n.externalUnready.empty()) {
      root = n.externalUnready.front();
    } else {
      int firstBlocked = -1;
      for (int d : gi.deps[i]) {
        auto& dn = rs->nodes[d];
        if (dn.st == St::Ready) continue;
        if (dn.st != St::Waiting) {
          root = dn.res->id;
          break;
        }
        if (firstBlocked < 0) firstBlocked = d;
      }
      if (root.empty() && firstBlocked >= 0) {
        root = rootCause(firstBlocked);
        if (root.empty()) root = rs->nodes[firstBlocked].res->id;
      }
    }
    rootState[i] = 2;
    rootMemo[i] = root;
    return root;
  };
  for (int i = 0; i < static_cast<int>(rs->nodes.size()); ++i) {
    auto& n = rs->nodes[i];
    switch (n.st) {
      case St::Waiting: {
        if (rs->dryRun) break;
        n.phase = Phase::Blocked;
        auto root = rootCause(i);
        n.message = root.empty() ? (cancelled ? "cancelled" : "not reached") : "waiting for " + root;
        break;
      }
      case St::Queued:
        n.phase = Phase::Pending;
        n.message = cancelled ? "cancelled before apply" : timedOut ? "pass timed out before apply"
                                                                   : "not reached";
        break;
      case St::Running:
        n.phase = Phase::Progressing;
        n.message = "still in progress when the pass ended";
        break;
      case St::Delayed:
        if (n.phase == Phase::Failed) {  // retry budget left but the pass ended: drop the promise
          auto pos = n.message.rfind(" (retrying in ");
          if (pos != std::string::npos) n.message.erase(pos);
        }
        break;
      default:
        break;
    }
    n.statusDirty = true;
  }
  for (auto& p : rs->prunes) {
    if (p.st == St::Waiting) {
      auto pre = prunePrereq(p);
      p.message = pre ? "waiting for " + *pre : "not reached";
    } else if (p.st == St::Queued) {
      p.message = "not reached";
    } else if (p.st == St::Delayed) {
      p.phase = Phase::Failed;
    }
  }

  // ---- persist what changed (a no-op pass writes nothing per resource) -----------------------
  auto nowMs = nowUnixMs();
  if (store && !rs->dryRun) {
    for (auto& n : rs->nodes) {
      const auto& id = n.res->id;
      const ResourceRecord* old = n.prev;
      std::string appliedHash = old ? old->lastAppliedHash : "";
      if (n.adopted && n.observed) appliedHash = n.observed->appliedHash;
      // Compare in place first: copying every record of a no-op pass costs more than the pass.
      bool differs = !old || old->kind != n.res->kind || old->desiredHash != n.res->hash ||
                     old->lastAppliedHash != appliedHash || old->phase != n.phase ||
                     old->message != n.message || old->drifted != n.drifted ||
                     old->dependsOn != n.res->dependsOn;
      bool wasFailed = old && old->phase == Phase::Failed;
      if (differs) {
        ResourceRecord rec = old ? *old : ResourceRecord{};
        rec.id = id;
        rec.kind = n.res->kind;
        rec.desiredHash = n.res->hash;
        rec.lastAppliedHash = appliedHash;
        rec.phase = n.phase;
        rec.message = n.message;
        rec.drifted = n.drifted;
        rec.dependsOn = n.res->dependsOn;
        rec.updatedUnix = nowMs / 1000;
        auto r = store->putResource(rec);
        if (!r) log::error("state: " + r.error().message, {{"resource", id}});
        auto& slot = persisted_[id];
        slot = std::move(rec);
        n.prev = &slot;
      }
      if (n.phase == Phase::Failed && !n.recorded && (!wasFailed || differs)) {
        EventRecord ev{0, nowMs, "error", id, n.conflict ? "Conflict" : "Failed", n.message, rs->runId};
        auto r = store->appendEvent(ev);
        if (!r) log::error("state: " + r.error().message);
      }
      if (n.adopted && !old) {
        EventRecord ev{0, nowMs, "info", id, "Adopted",
                       "adopted the existing object by its ownership mark", rs->runId};
        auto r = store->appendEvent(ev);
        if (!r) log::error("state: " + r.error().message);
      }
    }
    // Records of objects that left the spec and are observed gone (or were never ours).
    if (rs->full) {
      std::vector<std::string> stale;
      for (auto& [id, rec] : persisted_) {
        if (gi.index.count(id) || rs->pruneIndex.count(id) || seenIds.count(id)) continue;
        auto kp = kindProvider_.find(rec.kind);
        if (kp != kindProvider_.end() && observedOk.count(kp->second)) stale.push_back(id);
      }
      for (auto& id : stale) {
        auto r = store->deleteResource(id);
        if (!r) log::error("state: " + r.error().message);
        persisted_.erase(id);
      }
    }
    // Remember which provider makes each kind (for pruning kinds that leave the spec entirely).
    for (auto& n : rs->nodes) {
      if (!n.provider) continue;
      auto& cur = kindProvider_[n.res->kind];
      if (cur == n.res->provider) continue;
      cur = n.res->provider;
      auto r = store->setMeta("kind_provider/" + n.res->kind, cur);
      if (!r) log::error("state: " + r.error().message);
    }
  }

  // ---- result --------------------------------------------------------------------------------
  int ready = 0, failed = 0, blocked = 0, other = 0;
  for (auto& n : rs->nodes) {
    if (rs->dryRun) {
      if (n.st == St::Planned) changed++;
      if (n.phase == Phase::Failed) failed++;
      else if (n.phase == Phase::Ready) ready++;
      else other++;
      continue;
    }
    switch (n.phase) {
      case Phase::Ready: ready++; break;
      case Phase::Failed: failed++; break;
      case Phase::Blocked: blocked++; break;
      default: other++; break;
    }
  }
  for (auto& p : rs->prunes) {
    if (p.st == St::Failed || p.phase == Phase::Failed) failed++;
    else if (p.st != St::Ready && p.st != St::Planned) other++;
  }
  result.ready = ready;
  result.failed = failed;
  result.blocked = blocked;
  result.changed = changed;
  if (cancelled) result.result = "cancelled";
  else if (failed > 0) result.result = "failed";
  else if (rs->dryRun || (blocked == 0 && other == 0)) result.result = "success";
  else result.result = "partial";
  result.finishedUnixMs = nowUnixMs();

  if (store) {
    RunRecord rr;
    rr.id = rs->runId;
    rr.startedUnixMs = result.startedUnixMs;
    rr.finishedUnixMs = result.finishedUnixMs;
    rr.result = result.result;
    rr.revision = graph->revision;
    rr.trigger = req.trigger;
    rr.dryRun = rs->dryRun;
    rr.summary = std::to_string(ready) + " ready, " + std::to_string(failed) + " failed, " +
                 std::to_string(blocked) + " blocked, " + std::to_string(changed) +
                 (rs->dryRun ? " to change" : " changed");
    auto r = store->finishRun(rr);
    if (!r) log::error("state: finishRun failed: " + r.error().message);
  }
  publishStatus(*rs, true);
  recomputeCounts();
  double secs = secondsSince(t0);
  if (metrics) {
    metrics->runFinished(result.result, secs);
    if (result.result == "success" && !rs->dryRun)
      metrics->lastSuccess(std::chrono::duration<double>(clock_->wallNow().time_since_epoch()).count());
  }
  log::info("reconcile pass " + result.result,
            {{"run", std::to_string(result.runId)},
             {"ready", std::to_string(ready)},
             {"failed", std::to_string(failed)},
             {"blocked", std::to_string(blocked)},
             {"changed", std::to_string(changed)},
             {"seconds", std::to_string(secs)}});
  return result;
}

Result<std::vector<PlannedAction>> EngineImpl::plan(const std::vector<std::string>& ids) {
  auto graph = desired();
  if (!graph) return makeError("no desired state loaded");
  std::atomic<bool> flag{false};
  {
    std::lock_guard lk(cancelMu_);
    planFlags_.insert(&flag);
  }
  struct Unregister {
    EngineImpl* e;
    std::atomic<bool>* f;
    ~Unregister() {
      std::lock_guard lk(e->cancelMu_);
      e->planFlags_.erase(f);
    }
  } unregister{this, &flag};

  std::unordered_set<std::string> want(ids.begin(), ids.end());
  bool full = ids.empty();
  std::vector<const DesiredResource*> sel;
  for (auto& r : graph->resources)
    if (full || want.count(r.id)) sel.push_back(&r);

  CallContext ctx;
  ctx.cancelled = &flag;
  ctx.secrets = deps_.secrets;
  ctx.environment = opts_.environment.empty() ? graph->environment : opts_.environment;
  ctx.deadline = SteadyClock::now() + opts_.runTimeout;

  std::map<std::string, Provider*> providers;
  std::map<std::string, ObserveRequest> reqs;
  for (auto* r : sel) {
    if (r->provider == "none") continue;
    if (!providers.count(r->provider)) providers[r->provider] = providerFor(r->provider);
    if (!providers[r->provider]) continue;
    reqs[r->provider].desired.push_back(r);
  }
  // Observe each provider in parallel on short-lived threads: plan() is called from request
  // handlers and must not queue behind a pass's applies on the pool.
  std::map<std::string, ObserveResponse> resps;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (auto& [pname, oreq] : reqs) {
    oreq.includeOwned = full;
    oreq.ctx = ctx;
    threads.emplace_back([&, pname = pname, p = providers[pname], oreq = &oreq] {
      auto resp = safeObserve(*p, pname, *oreq, deps_.metrics);
      std::lock_guard lk(mu);
      resps[pname] = std::move(resp);
    });
  }
  for (auto& t : threads) t.join();

  std::vector<PlannedAction> out;
  out.reserve(sel.size());
  for (auto* r : sel) {
    PlannedAction a;
    a.id = r->id;
    a.kind = r->kind;
    if (r->provider == "none") {
      a.reason = kNoHostMessage;
      out.push_back(std::move(a));
      continue;
    }
    Provider* p = providers[r->provider];
    if (!p) {
      a.reason = "failed: provider '" + r->provider + "' is not built into this tend";
      out.push_back(std::move(a));
      continue;
    }
    auto& resp = resps[r->provider];
    if (auto e = resp.errors.find(r->id); e != resp.errors.end()) {
      a.reason = redact("failed: " + e->second.message);
      out.push_back(std::move(a));
      continue;
    }
    auto o = resp.observed.find(r->id);
    auto pa = safePlan(*p, r, o == resp.observed.end() ? nullptr : &o->second);
    if (!pa) {
      a.reason = redact("failed: " + pa.error().message);
      out.push_back(std::move(a));
      continue;
    }
    pa->reason = redact(pa->reason);
    out.push_back(std::move(*pa));
  }
  if (full && graph->prune) {
    std::vector<PlannedAction> deletes;
    for (auto& [pname, resp] : resps) {
      Provider* p = providers[pname];
      std::set<std::string> kinds;
      for (auto& k : p->kinds()) kinds.insert(k);
      for (auto& [id, o] : resp.observed) {
        if (graph->find(id) || !o.exists || !o.owned || o.id != id || !kinds.count(kindOfId(id))) continue;
        auto pa = safePlan(*p, nullptr, &o);
        if (pa && pa->action != Action::Noop) deletes.push_back(std::move(*pa));
      }
    }
    std::stable_sort(deletes.begin(), deletes.end(), [this](const PlannedAction& a, const PlannedAction& b) {
      return pruneRank(kindOfId(a.id)) < pruneRank(kindOfId(b.id));
    });
    for (auto& d : deletes) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace engine
}  // namespace tend
