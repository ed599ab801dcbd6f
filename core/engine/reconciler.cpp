// The engine's coordinating thread: every key's state lives here and changes only here.
// Provider calls go to the worker pool (observe_stage batches, apply_stage applies) and come
// back as completions; nothing on this thread blocks on a provider.
#include <algorithm>
#include <exception>
#include <unordered_set>

#include "core/engine/engine_impl.h"
#include "core/engine/engine_state.h"
#include "core/engine/plan_stage.h"
#include "core/engine/prune_stage.h"
#include "core/log.h"

namespace tend::engine {

namespace {
bool emptyData(const nlohmann::json& j) { return j.is_null() || (j.is_object() && j.empty()); }
}  // namespace

void EngineImpl::loop() {
  size_t lastDepth = SIZE_MAX;
  auto lastCounts = SteadyClock::now();
  std::unique_lock lk(mu_);
  for (;;) {
    if (stop_) break;
    DesiredGraphPtr graph = std::move(newGraph_);
    newGraph_ = nullptr;
    bool cancel = cancelRequested_;
    cancelRequested_ = false;
    std::deque<Joiner> joiners;
    joiners.swap(joiners_);
    std::deque<Completion> comps;
    comps.swap(completions_);
    wakeRequested_ = false;
    idle_ = false;
    lk.unlock();

    if (graph) installGraph(graph);
    if (cancel) {
      // Calls in flight were cancelled by cancel() itself; here: end every run, drop what
      // waits, and settle every key, so later runs start clean.
      epoch_++;
      finishRuns(true, "cancelled");
      queue_->clearPending();
      for (int i = 0; i < static_cast<int>(keys_.size()); ++i) {
        auto& k = keys_[i];
        if (k.step == Step::Applying || k.step == Step::Observing) continue;  // completion comes
        if (k.step == Step::Held) k.step = Step::Idle;
        markDone(k.res->id, k.processing);
        k.settled = true;
        k.step = Step::Idle;
        k.runs.clear();
        k.nextRuns.clear();
      }
      held_.clear();
      for (auto& [id, p] : prunes_) {
        if (p.step == Step::Applying) continue;
        markDone(id, p.processing);
        p.settled = true;
        p.step = Step::Idle;
        p.runs.clear();
      }
      heldPrunes_.clear();
      for (auto& [bk, b] : batcher_.takeReady(nullptr)) {
        batcher_.finished(bk);
        for (auto& id : b.ids)
          if (auto it = index_.find(id); it != index_.end()) {
            auto& k = keys_[it->second];
            markDone(id, k.processing);
            k.settled = true;
            k.step = Step::Idle;
          }
      }
    }
    for (auto& j : joiners) activateRun(j.run, j.ids);
    for (auto& c : comps) onCompletion(c);
    do {
      dispatch();
      tryHeld();
      flushBatches();
    } while (queue_->readyLen() > 0);

    // Calls past their deadline are cancelled (providers check it too; this reaches the ones
    // blocked in I/O).
    auto realNow = SteadyClock::now();
    std::optional<SteadyClock::time_point> nextDeadline;
    {
      std::lock_guard cl(callsMu_);
      for (auto& [id, c] : calls_) {
        if (c.signal->cancelled()) continue;
        if (c.deadline <= realNow) c.signal->cancel();
        else if (!nextDeadline || c.deadline < *nextDeadline) nextDeadline = c.deadline;
      }
    }
    finishRuns(false, "");
    publishStatus();
    if (countsDirty_ && SteadyClock::now() - lastCounts > std::chrono::milliseconds(100)) {
      recomputeCounts();
      countsDirty_ = false;
      lastCounts = SteadyClock::now();
    }
    if (deps_.metrics) {
      size_t depth = queue_->len();
      if (depth != lastDepth) {
        deps_.metrics->workqueueDepth(depth);
        lastDepth = depth;
      }
    }

    // Sleep until something is due: a requeue, a run's deadline, a call's deadline, a rate
    // token for a held apply; at most 1 s (fake clocks are woken by wake()).
    auto now = clock_->now();
    Clock::Duration wait = std::chrono::seconds(1);
    if (auto next = queue_->nextEventAt()) wait = std::min(wait, *next - now);
    for (auto& [seq, r] : loopRuns_)
      if (!r->finished) wait = std::min(wait, r->deadline - now);
    if ((!held_.empty() || !heldPrunes_.empty()) && !applyBucket_.unlimited()) {
      // Only a missing token is worth waking for; keys held by a full concurrency key wake
      // with the completion that frees it.
      auto at = applyBucket_.nextTokenAt(now);
      if (at > now) wait = std::min(wait, at - now);
    }
    if (nextDeadline) wait = std::min<Clock::Duration>(wait, *nextDeadline - realNow);
    if (countsDirty_) wait = std::min<Clock::Duration>(wait, std::chrono::milliseconds(100));
    bool idle = idleNow();
    if (idle && countsDirty_) {
      recomputeCounts();
      countsDirty_ = false;
      lastCounts = SteadyClock::now();
    }
    lk.lock();
    if (completions_.empty() && joiners_.empty() && !newGraph_ && !cancelRequested_ && !wakeRequested_ &&
        !stop_) {
      idle_ = idle;
      if (idle_) idleCv_.notify_all();
      if (wait > Clock::Duration::zero()) cv_.wait_for(lk, wait);
    }
  }
  lk.unlock();
  finishRuns(true, "cancelled");
}

bool EngineImpl::idleNow() const {
  if (inflight_ > 0 || batcher_.pending() > 0 || batcher_.inFlightCount() > 0) return false;
  if (!held_.empty() || !heldPrunes_.empty()) return false;
  if (queue_->readyLen() > 0) return false;
  if (auto next = queue_->nextEventAt(); next && *next <= clock_->now()) return false;
  return true;
}

// ---- graph ---------------------------------------------------------------------------------

void EngineImpl::installGraph(DesiredGraphPtr g) {
  if (g == loopGraph_) return;
  publishStatus();  // dirty marks are key positions: flush them before the keys move
  std::unordered_map<std::string, Key> old;
  old.reserve(keys_.size());
  for (auto& k : keys_) old.emplace(k.res->id, std::move(k));
  std::vector<std::string> heldIds;
  keys_.clear();
  index_.clear();
  loopGraph_ = g;
  size_t n = g->resources.size();
  keys_.resize(n);
  index_.reserve(n);
  for (size_t i = 0; i < n; ++i) index_.emplace(g->resources[i].id, static_cast<int>(i));
  depIdx_.assign(n, {});
  dependents_.assign(n, {});
  external_.assign(n, {});
  std::map<std::string, std::shared_ptr<Provider>> providers;
  for (size_t i = 0; i < n; ++i) {
    const auto& r = g->resources[i];
    for (const auto& d : r.dependsOn) {
      auto it = index_.find(d);
      if (it == index_.end()) {
        external_[i].push_back(d);
        continue;
      }
      depIdx_[i].push_back(it->second);
      dependents_[it->second].push_back(static_cast<int>(i));
    }
    auto& k = keys_[i];
    auto o = old.find(r.id);
    if (o != old.end()) {
      std::string oldHash = o->second.res ? o->second.res->hash : "";
      k = std::move(o->second);
      old.erase(o);
      if (oldHash != r.hash) {
        // A spec change for this key: a fresh start (backoff, terminal mark, conflict).
        queue_->forget(r.id);
        k.haveObservation = false;
        k.runFailures = 0;
        k.conflict = false;
      }
    } else if (auto p = persisted_.find(r.id); p != persisted_.end()) {
      k.phase = p->second.phase;
      k.message = p->second.message;
      k.drifted = p->second.drifted;
      k.lastAppliedUnix = p->second.lastAppliedUnix;
    }
    k.res = &r;
    k.none = r.provider == "none";
    k.unavailable.reset();
    if (!k.none) {
      auto [pit, fresh] = providers.emplace(r.provider, nullptr);
      if (fresh) pit->second = providerRef(r.provider);
      if (k.provider != pit->second) k.haveObservation = false;
      k.provider = pit->second;
      if (!k.provider) k.unavailable = "provider '" + r.provider + "' is not built into this tend";
      else k.scope = k.provider->observeScope(r);
    } else {
      k.provider.reset();
    }
    if (k.step == Step::Held) heldIds.push_back(r.id);
  }
  providers_ = std::move(providers);
  // Keys that left the spec: their runs stop waiting for them; calls in flight complete
  // against nothing (their completion only ends the key's processing).
  for (auto& [id, k] : old) {
    clearRerun(k);
    k.runs.insert(k.runs.end(), k.nextRuns.begin(), k.nextRuns.end());
    for (auto seq : k.runs) {
      auto it = loopRuns_.find(seq);
      if (it != loopRuns_.end() && !it->second->finished) it->second->unsettled--;
    }
    if (k.processing && k.step != Step::Observing && k.step != Step::Applying) queue_->done(id);
  }
  held_.clear();
  for (auto& id : heldIds) held_.push_back(index_.at(id));
}

// ---- runs ----------------------------------------------------------------------------------

void EngineImpl::activateRun(const std::shared_ptr<Run>& r, const std::vector<std::string>& ids) {
  if (!loopGraph_) {
    auto g = desired();
    if (g) installGraph(g);
  }
  {
    std::lock_guard lk(mu_);
    if (r->finished) return;  // cancelled before it began
  }
  bool wasFull = r->activated && r->full;
  r->activated = true;
  loopRuns_[r->seq] = r;
  if (!ids.empty()) {
    for (const auto& id : ids)
      if (auto it = index_.find(id); it != index_.end()) trigger(it->second, r.get());
    return;
  }
  if (wasFull) {
    // A full joiner of a full run: its keys are enqueued again.
    for (int i = 0; i < static_cast<int>(keys_.size()); ++i) trigger(i, r.get());
    return;
  }
  r->full = true;
  for (int i = 0; i < static_cast<int>(keys_.size()); ++i) trigger(i, r.get());
  // The owned listing (prune candidates, stale records): one per provider and scope, riding
  // on the scope's next observe call. Providers that made kinds no longer in the spec too.
  std::map<std::string, std::set<std::string>> scopes;
  for (auto& k : keys_)
    if (k.provider) scopes[k.res->provider].insert(k.scope);
  for (auto& [id, rec] : persisted_) {
    if (index_.count(id)) continue;
    auto kp = kindProvider_.find(rec.kind);
    if (kp == kindProvider_.end() || scopes.count(kp->second)) continue;
    auto p = providerRef(kp->second);
    if (!p) continue;
    providers_[kp->second] = p;
    scopes[kp->second].insert("");
  }
  for (auto& [pname, ss] : scopes) {
    auto pit = providers_.find(pname);
    if (pit == providers_.end() || !pit->second) continue;
    for (auto& s : ss) {
      batcher_.wantListing(BatchKey{pname, s}, pit->second.get(), r->seq);
      r->listingsPending[pname]++;
    }
  }
}

void EngineImpl::trigger(int i, Run* r) {
  auto& k = keys_[i];
  k.triggeredTick = ++tick_;
  if (k.step == Step::Applying) markRerun(k);
  if (k.processing) {
    if (r) {
      k.nextRuns.push_back(r->seq);
      r->unsettled++;
    }
  } else {
    if (r) {
      k.runs.push_back(r->seq);
      r->unsettled++;
    }
    k.runFailures = 0;
    k.changeCounted = false;
  }
  if (k.step == Step::Idle || k.step == Step::Delayed || k.step == Step::Waiting) k.settled = false;
  queue_->add(k.res->id);
}

void EngineImpl::markStatus(int i) {
  auto& k = keys_[i];
  if (k.statusDirty) return;
  k.statusDirty = true;
  dirtyKeys_.push_back(i);
}

const ResourceRecord* EngineImpl::recordOf(int i) {
  auto& k = keys_[i];
  if (!k.recLooked) {
    auto p = persisted_.find(k.res->id);
    k.rec = p == persisted_.end() ? nullptr : &p->second;
    k.recLooked = true;
  }
  return k.rec;
}

void EngineImpl::markRerun(Key& k) {
  if (k.rerunPending) return;
  k.rerunPending = true;
  k.rerunScope = BatchKey{k.res->provider, k.scope};
  rerunsByScope_[k.rerunScope]++;
}

void EngineImpl::clearRerun(Key& k) {
  if (!k.rerunPending) return;
  k.rerunPending = false;
  if (--rerunsByScope_[k.rerunScope] <= 0) rerunsByScope_.erase(k.rerunScope);
}

void EngineImpl::countSettled(std::vector<int64_t>& runs, Phase phase) {
  for (auto seq : runs) {
    auto it = loopRuns_.find(seq);
    if (it == loopRuns_.end()) continue;
    Run& r = *it->second;
    if (r.finished) continue;
    r.unsettled--;
    switch (phase) {
      case Phase::Ready: r.ready++; break;
      case Phase::Failed: r.failed++; break;
      case Phase::Blocked: r.blocked++; break;
      default: r.other++; break;
    }
  }
  runs.clear();
}

void EngineImpl::releaseFromLooseRuns(std::vector<int64_t>& runs, bool) {
  // Runs without untilSettled end once each key was reconciled once: a key that now waits
  // (for a dependency, a task, a retry) counts as not settled for them.
  for (auto it = runs.begin(); it != runs.end();) {
    auto r = loopRuns_.find(*it);
    if (r != loopRuns_.end() && !r->second->finished && !r->second->req.untilSettled) {
      r->second->unsettled--;
      r->second->other++;
      it = runs.erase(it);
    } else {
      ++it;
    }
  }
}

void EngineImpl::finishRuns(bool all, const std::string& result) {
  std::vector<std::shared_ptr<Run>> open;
  if (all) {
    std::lock_guard lk(mu_);
    for (auto& [seq, r] : runs_) open.push_back(r);
  } else {
    for (auto& [seq, r] : loopRuns_) open.push_back(r);
  }
  auto now = clock_->now();
  for (auto& r : open) {
    if (all) {
      finishRun(*r, result);
      continue;
    }
    bool listings = false;
    for (auto& [p, n] : r->listingsPending) listings = listings || n > 0;
    if (r->unsettled <= 0 && !listings) finishRun(*r, "");
    else if (now >= r->deadline) finishRun(*r, "timeout");
  }
}

void EngineImpl::finishRun(Run& r, const std::string& forced) {
  std::vector<std::function<void(const RunResult&)>> callbacks;
  {
    std::lock_guard lk(mu_);
    if (r.finished) return;
    if (forced.empty())
      for (auto& j : joiners_)
        if (j.run.get() == &r) return;  // a joiner's keys are not enqueued yet
    r.finished = true;
    callbacks.swap(r.onDone);
    runs_.erase(r.seq);
    // A run that waited for an earlier one stops taking joiners when none is left.
    for (auto& [seq, o] : runs_) {
      bool older = false;
      for (auto& [s2, o2] : runs_)
        if (s2 < seq && o2->req.untilSettled == o->req.untilSettled) older = true;
      o->accepting = older;
    }
  }
  loopRuns_.erase(r.seq);  // the caller holds a reference
  RunResult res;
  res.runId = r.id;
  res.startedUnixMs = r.startedMs;
  res.finishedUnixMs = unixMs(*clock_);
  res.ready = r.ready;
  res.failed = r.failed;
  res.blocked = r.blocked;
  res.changed = r.changed;
  int other = r.other + std::max(0, r.unsettled);
  if (forced == "cancelled") res.result = "cancelled";
  else if (r.failed > 0) res.result = "failed";
  else if (r.blocked == 0 && other == 0) res.result = "success";
  else res.result = "partial";
  if (deps_.state && r.id) {
    RunRecord rr;
    rr.id = r.id;
    rr.startedUnixMs = res.startedUnixMs;
    rr.finishedUnixMs = res.finishedUnixMs;
    rr.result = res.result;
    rr.revision = loopGraph_ ? loopGraph_->revision : "";
    rr.trigger = r.req.trigger;
    rr.dryRun = false;
    rr.summary = std::to_string(res.ready) + " ready, " + std::to_string(res.failed) + " failed, " +
                 std::to_string(res.blocked) + " blocked, " + std::to_string(res.changed) + " changed";
    auto w = deps_.state->finishRun(rr);
    if (!w) log::error("state: finishRun failed: " + w.error().message);
  }
  publishStatus();
  recomputeCounts();
  countsDirty_ = false;
  double secs = std::chrono::duration<double>(SteadyClock::now() - r.t0).count();
  if (deps_.metrics) {
    deps_.metrics->runFinished(res.result, secs);
    if (res.result == "success")
      deps_.metrics->lastSuccess(std::chrono::duration<double>(clock_->wallNow().time_since_epoch()).count());
  }
  log::info("reconcile run " + res.result, {{"run", std::to_string(res.runId)},
                                            {"ready", std::to_string(res.ready)},
                                            {"failed", std::to_string(res.failed)},
                                            {"blocked", std::to_string(res.blocked)},
                                            {"changed", std::to_string(res.changed)},
                                            {"seconds", std::to_string(secs)}});
  for (auto& cb : callbacks) cb(res);
}

// ---- dispatch and steps --------------------------------------------------------------------

void EngineImpl::markDone(const std::string& id, bool& processing) {
  if (!processing) return;
  processing = false;
  queue_->done(id);
}

void EngineImpl::dispatch() {
  while (auto key = queue_->tryGet()) {
    if (auto it = index_.find(*key); it != index_.end()) {
      auto& k = keys_[it->second];
      if (k.step == Step::Observing || k.step == Step::Applying || k.step == Step::Held) {
        // Never two workers on one key: the queue guards it; a stale hand-out is dropped.
        queue_->done(*key);
        continue;
      }
      k.processing = true;
      step(it->second);
      continue;
    }
    if (auto pt = prunes_.find(*key); pt != prunes_.end()) {
      if (pt->second.step == Step::Applying) {
        queue_->done(*key);
        continue;
      }
      pt->second.processing = true;
      stepPrune(*key);
      continue;
    }
    queue_->done(*key);  // a key that left the spec, or a scope's backoff marker
  }
}

void EngineImpl::step(int i) {
  auto& k = keys_[i];
  if (k.settled) {
    // A new round that no trigger started (a retry, a requeue, a dependency released it).
    k.recorded = false;
  }
  k.settled = false;
  if (!k.nextRuns.empty()) {
    k.runs.insert(k.runs.end(), k.nextRuns.begin(), k.nextRuns.end());
    k.nextRuns.clear();
    k.runFailures = 0;
    k.changeCounted = false;
  }
  if (k.none || k.unavailable) return afterObservation(i);  // nothing to observe
  bool fresh = k.haveObservation && k.observedTick > k.triggeredTick &&
               clock_->now() - k.observedAt < opts_.observationMaxAge;
  if (!fresh) {
    k.step = Step::Observing;
    k.dispatchTick = ++tick_;
    batcher_.add(BatchKey{k.res->provider, k.scope}, k.provider.get(), k.res->id);
    return;
  }
  afterObservation(i);
}

void EngineImpl::afterObservation(int i) {
  auto& k = keys_[i];
  // Dependencies first: an observation error of a resource whose dependencies are not there
  // yet (a host item before its VM exists) is no failure; it is observed again later.
  thread_local std::vector<DepView> views;  // reused: this runs once per key and look
  views.clear();
  for (int d : depIdx_[i]) {
    auto& dk = keys_[d];
    DepView v;
    v.id = dk.res->id;
    v.ready = (dk.settled && dk.phase == Phase::Ready) ||
              (dk.started && !dk.settled && k.provider && k.provider->startedSuffices(*k.res, dk.res->id));
    v.active = !dk.settled;
    v.blocked = dk.settled && dk.phase == Phase::Blocked;
    v.root = dk.root;
    views.push_back(std::move(v));
  }
  for (const auto& e : external_[i]) {
    DepView v;
    v.id = e;
    v.known = false;
    views.push_back(std::move(v));
  }
  auto verdict = dependencyVerdict(views);
  if (verdict.what == DepVerdict::Wait) {
    if (k.observeError) {
      k.observeError.reset();
      k.haveObservation = false;
    }
    return toWaiting(i, verdict.on);
  }
  if (verdict.what == DepVerdict::Blocked) return settleBlocked(i, verdict.on);
  if (k.none) return settleReady(i, kNoHostMessage);
  if (k.unavailable) {
    queue_->markTerminal(k.res->id, *k.unavailable);
    k.runFailures++;
    return settleFailed(i, *k.unavailable);
  }
  if (k.observeError) {
    Error e = *k.observeError;
    k.observeError.reset();
    k.haveObservation = false;
    return handleFailure(i, e, true);
  }
  const nlohmann::json* pd = nullptr;
  if (auto* rec = recordOf(i)) pd = &rec->ownerData;
  auto p = safePlan(*k.provider, k.res, k.observed ? &*k.observed : nullptr, pd);
  if (!p) {
    k.haveObservation = false;
    return handleFailure(i, p.error(), true);
  }
  k.plan = std::move(*p);
  const auto& obs = k.observed;
  if (k.plan->conflict) {
    k.conflict = true;
    queue_->markTerminal(k.res->id, k.plan->reason);
    k.runFailures++;
    return settleFailed(i, k.plan->reason.empty() ? "conflict with an object tend does not own" : k.plan->reason);
  }
  if (k.plan->action == Action::Noop) {
    k.drifted = false;
    if (obs && obs->owned && obs->exists && obs->appliedHash == k.res->hash) {
      auto* rec = recordOf(i);
      if (!rec || rec->lastAppliedHash != k.res->hash) k.adopted = true;
    }
    if (obs && obs->exists && obs->failed && !obs->ready) {
      std::string m = obs->message.empty() ? "failed" : obs->message;
      queue_->markTerminal(k.res->id, m);
      k.runFailures++;
      return settleFailed(i, std::move(m));
    }
    if (obs && obs->exists && !obs->ready)
      return progressing(i, obs->message.empty() ? "waiting to become ready" : obs->message, std::nullopt,
                         obs->started);
    return settleReady(i, obs && !obs->message.empty() ? obs->message : "up to date");
  }
  startApply(i);
}

void EngineImpl::startApply(int i) {
  auto& k = keys_[i];
  const auto& pname = k.res->provider;
  int limit = 4;
  if (auto it = loopGraph_->parallelism.find(pname); it != loopGraph_->parallelism.end()) limit = it->second;
  else if (k.provider->defaultParallelism() > 0) limit = k.provider->defaultParallelism();
  std::vector<ConcurrencyKey> own;
  try {
    own = k.provider->concurrencyKeys(k.res, *k.plan);
  } catch (const std::exception& e) {
    log::error("provider " + pname + " concurrencyKeys() threw: " + e.what());
  }
  k.slots = effectiveKeys(pname, limit, std::move(own), loopGraph_->parallelism);
  k.step = Step::Held;
  held_.push_back(i);
  if (k.phase != Phase::Progressing) {
    k.phase = Phase::Pending;
    k.message = redact("waiting to " + describe(*k.plan));
    markStatus(i);
  }
}

void EngineImpl::tryHeld() {
  for (size_t n = held_.size(); n > 0 && !held_.empty(); --n) {
    int i = held_.front();
    held_.pop_front();
    auto& k = keys_[i];
    if (k.step != Step::Held) continue;
    if (!applyBucket_.unlimited()) {
      auto now = clock_->now();
      if (applyBucket_.nextTokenAt(now) > now) {  // the global apply rate: wait for a token
        held_.push_front(i);
        break;
      }
    }
    if (!limiter_.tryAcquire(k.slots)) {
      held_.push_back(i);
      continue;
    }
    applyBucket_.tryTake(clock_->now());
    k.step = Step::Applying;
    if (k.triggeredTick > k.dispatchTick) markRerun(k);  // triggered since it was observed
    k.phaseBeforeApply = k.phase;
    k.phase = Phase::Progressing;
    k.message = redact(describe(*k.plan));
    k.note.clear();
    markStatus(i);
    uint64_t callId = 0;
    int64_t runId = 0;
    if (!k.runs.empty())
      if (auto r = loopRuns_.find(k.runs.front()); r != loopRuns_.end()) runId = r->second->id;
    ApplyInput in;
    in.id = k.res->id;
    in.kind = k.res->kind;
    in.providerName = k.res->provider;
    in.desired = k.res;
    in.provider = k.provider.get();
    in.observed = k.observed;
    in.plan = *k.plan;
    in.ctx = callContext(k.res->provider, k.provider.get(), runId, callId);
    if (auto* rec = recordOf(i)) in.prev = *rec;
    in.runId = runId;
    in.store = deps_.state;
    in.metrics = deps_.metrics;
    in.clock = clock_;
    k.callId = callId;
    inflight_++;
    inflightByProvider_[k.res->provider]++;
    Completion c;
    c.batch.provider = k.res->provider;
    c.callId = callId;
    c.epoch = epoch_;
    c.id = k.res->id;
    c.desiredHash = k.res->hash;
    c.plan = *k.plan;
    c.slots = k.slots;
    c.graph = loopGraph_;
    submitApply(std::move(in), std::move(c), k.provider);
  }
  for (size_t n = heldPrunes_.size(); n > 0 && !heldPrunes_.empty(); --n) {
    std::string id = heldPrunes_.front();
    heldPrunes_.pop_front();
    auto it = prunes_.find(id);
    if (it == prunes_.end() || it->second.step != Step::Held) continue;
    auto& p = it->second;
    if (!limiter_.tryAcquire(p.slots)) {
      heldPrunes_.push_back(id);
      continue;
    }
    applyBucket_.tryTake(clock_->now());
    p.step = Step::Applying;
    p.message = "deleting";
    dirtyStatus_.insert(id);
    uint64_t callId = 0;
    int64_t runId = 0;
    if (!p.runs.empty())
      if (auto r = loopRuns_.find(p.runs.front()); r != loopRuns_.end()) runId = r->second->id;
    ApplyInput in;
    in.prune = true;
    in.id = id;
    in.kind = p.kind;
    in.providerName = p.providerName;
    in.provider = p.provider.get();
    in.observed = p.observed;
    in.plan = p.plan;
    in.ctx = callContext(p.providerName, p.provider.get(), runId, callId);
    if (auto rec = persisted_.find(id); rec != persisted_.end()) in.prev = rec->second;
    in.runId = runId;
    in.store = deps_.state;
    in.metrics = deps_.metrics;
    in.clock = clock_;
    p.callId = callId;
    inflight_++;
    inflightByProvider_[p.providerName]++;
    Completion c;
    c.batch.provider = p.providerName;
    c.prune = true;
    c.callId = callId;
    c.epoch = epoch_;
    c.id = id;
    c.plan = p.plan;
    c.slots = p.slots;
    submitApply(std::move(in), std::move(c), p.provider);
  }
}

void EngineImpl::submitApply(ApplyInput in, Completion c, std::shared_ptr<Provider> keep) {
  pool_->submit([this, in = std::move(in), c = std::move(c), keep = std::move(keep)]() mutable {
    c.out = applyAndRecord(std::move(in));
    endCall(c.callId);
    {
      std::lock_guard lk(mu_);
      completions_.push_back(std::move(c));
    }
    cv_.notify_all();
  });
}

void EngineImpl::flushBatches() {
  // A batch that only lists owned objects waits while the provider's applies run: the keys
  // being applied come back to be observed again, and the listing rides on their call.
  // Likewise any batch of a scope where a key applied now was triggered again meanwhile: it
  // comes back to be observed as soon as its apply returns, and joins the same call.
  auto hold = [this](const BatchKey& k, const Batch& b) {
    if (auto r = rerunsByScope_.find(k); r != rerunsByScope_.end() && r->second > 0) return true;
    if (!b.ids.empty()) return false;
    auto it = inflightByProvider_.find(k.provider);
    return it != inflightByProvider_.end() && it->second > 0;
  };
  for (auto& [bk, b] : batcher_.takeReady(hold)) {
    ObserveRequest req;
    req.scope = bk.scope;
    req.includeOwned = b.includeOwned;
    req.desired.reserve(b.ids.size());
    uint64_t callId = 0;
    req.ctx = callContext(bk.provider, b.provider, 0, callId);
    std::vector<std::string> ids;
    ids.reserve(b.ids.size());
    for (auto& id : b.ids) {
      auto it = index_.find(id);
      if (it == index_.end()) continue;
      auto& k = keys_[it->second];
      k.callId = callId;
      req.desired.push_back(k.res);
      if (auto* rec = recordOf(it->second); rec && !emptyData(rec->ownerData))
        req.privateData[id] = rec->ownerData;
      ids.push_back(id);
    }
    // The owned listing also gets the private data of this provider's records that left the
    // spec: what an apply left running when tendd stopped (a clone whose VM carries no mark
    // until it ends) is then found, and pruned, instead of being forgotten with the record.
    if (b.includeOwned)
      for (auto& [id, rec] : persisted_) {
        if (index_.count(id) || emptyData(rec.ownerData)) continue;
        auto kp = kindProvider_.find(rec.kind);
        if (kp != kindProvider_.end() && kp->second == bk.provider) req.privateData[id] = rec.ownerData;
      }
    Completion c;
    c.observe = true;
    c.callId = callId;
    c.epoch = epoch_;
    c.batch = bk;
    c.ids = std::move(ids);
    c.includeOwned = b.includeOwned;
    c.listFor = std::move(b.listFor);
    c.graph = loopGraph_;
    std::shared_ptr<Provider> keep;
    if (auto pit = providers_.find(bk.provider); pit != providers_.end()) keep = pit->second;
    pool_->submit([this, req = std::move(req), c = std::move(c), p = b.provider, keep]() mutable {
      c.resp = safeObserve(*p, c.batch.provider, req, deps_.metrics);
      endCall(c.callId);
      {
        std::lock_guard lk(mu_);
        completions_.push_back(std::move(c));
      }
      cv_.notify_all();
    });
  }
}

// ---- completions ---------------------------------------------------------------------------

void EngineImpl::onCompletion(Completion& c) {
  if (c.observe) onObserved(c);
  else if (c.prune) onPruneApplied(c);
  else onApplied(c);
}

void EngineImpl::onObserved(Completion& c) {
  batcher_.finished(c.batch);
  auto& resp = c.resp;
  bool oldEpoch = c.epoch != epoch_;
  const std::string scopeKey = kScopePrefix + c.batch.provider + "/" + c.batch.scope;
  std::optional<Clock::Duration> scopeRetry;
  auto now = clock_->now();
  if (resp.scopeError) {
    // One root cause, one backoff for the whole scope, raised once per retry: a call that
    // fails while the scope's backoff is still running shares what is left of it.
    auto at = scopeRetryAt_.find(scopeKey);
    if (at != scopeRetryAt_.end() && now < at->second) {
      scopeRetry = at->second - now;
    } else {
      scopeRetry = queue_->addRateLimited(scopeKey);
      if (scopeRetry) scopeRetryAt_[scopeKey] = now + *scopeRetry;
      log::warn("observe failed for a whole scope: " + redact(resp.scopeError->message),
                {{"provider", c.batch.provider}, {"scope", c.batch.scope}});
    }
  } else if (queue_->failures(scopeKey) > 0) {
    queue_->forget(scopeKey);
    scopeRetryAt_.erase(scopeKey);
  }
  // The owned listing first (it reads the answer before ids are moved out of it).
  for (auto seq : c.listFor) {
    auto it = loopRuns_.find(seq);
    if (it == loopRuns_.end() || it->second->finished) continue;
    Run& r = *it->second;
    const auto& pname = c.batch.provider;
    if (resp.scopeError || !resp.errors.empty() || hasErrors(resp.diagnostics)) r.listingFailed[pname] = true;
    auto& seen = r.seen[pname];
    auto& owned = r.owned[pname];
    for (auto& [id, o] : resp.observed) {
      if (o.exists && !id.empty()) seen.insert(id);
      if (!index_.count(id)) owned[id] = o;
    }
    if (--r.listingsPending[pname] <= 0) {
      r.listingsPending.erase(pname);
      listingDone(r, pname);
    }
  }
  for (auto& id : c.ids) {
    auto it = index_.find(id);
    if (it == index_.end()) {
      queue_->done(id);
      continue;
    }
    int i = it->second;
    auto& k = keys_[i];
    if (k.callId != c.callId || k.step != Step::Observing) {
      queue_->done(id);
      continue;
    }
    if (oldEpoch) {
      markDone(id, k.processing);
      k.step = Step::Idle;
      k.settled = true;
      countSettled(k.runs, k.phase);
      continue;
    }
    k.step = Step::Idle;
    k.observeError.reset();
    k.observed.reset();
    k.scopeRetry.reset();
    if (resp.scopeError) {
      k.observeError = *resp.scopeError;
      k.scopeRetry = scopeRetry;
    } else if (auto e = resp.errors.find(id); e != resp.errors.end()) {
      k.observeError = e->second;
    } else if (auto o = resp.observed.find(id); o != resp.observed.end()) {
      if (o->second.id != id) {
        log::warn("provider " + c.batch.provider + " answered id '" + o->second.id + "' under '" + id + "'");
        o->second.id = id;
      }
      k.observed = std::move(o->second);
    }
    k.haveObservation = true;
    k.observedAt = now;
    k.observedTick = k.dispatchTick;
    afterObservation(i);
  }
}

void EngineImpl::listingDone(Run& r, const std::string& pname) {
  if (!r.full || r.listingFailed[pname]) return;
  auto pit = providers_.find(pname);
  if (pit == providers_.end() || !pit->second) return;
  Provider& p = *pit->second;
  std::set<std::string> kinds;
  try {
    for (auto& kd : p.kinds()) kinds.insert(kd);
  } catch (const std::exception& e) {
    log::error("provider " + pname + " kinds() threw: " + e.what());
  }
  auto cands = pruneCandidates(r.owned[pname], kinds, *loopGraph_, pname);
  if (!loopGraph_->prune) {
    if (!cands.empty())
      log::info(std::to_string(cands.size()) + " owned objects are no longer in the spec; prune is off");
  } else if (!cands.empty()) {
    // Graph resources that (per their last record) depended on a candidate go first (dnsconf
    // stops naming a zone before the zone's file goes).
    std::map<std::string, std::vector<std::string>> namedBy;
    for (auto& k : keys_)
      if (auto rec = persisted_.find(k.res->id); rec != persisted_.end())
        for (auto& d : rec->second.dependsOn) namedBy[d].push_back(k.res->id);
    for (auto& c : cands) {
      if (auto ex = prunes_.find(c.id); ex != prunes_.end()) {
        // A prune an earlier run started: this run waits for it too (a `reconcile --now
        // --wait` after a restart does not return while the startup run is still deleting).
        auto& q = ex->second;
        if (std::find(q.runs.begin(), q.runs.end(), r.seq) != q.runs.end()) continue;
        q.runs.push_back(r.seq);
        r.unsettled++;
        if (q.settled) {
          // Settled for the earlier run (failed, or waiting on something that was not
          // ready): a new attempt for this one.
          q.failures = 0;
          queue_->add(c.id);
        }
        continue;
      }
      PruneKey pk;
      pk.id = c.id;
      pk.kind = c.kind;
      pk.providerName = pname;
      pk.provider = pit->second;
      pk.observed = std::move(c.observed);
      pk.rank = pruneRank(c.kind);
      pk.message = "to be deleted (not in the spec)";
      if (auto nb = namedBy.find(c.id); nb != namedBy.end()) pk.waitFor = nb->second;
      if (pk.kind == "zone")
        for (auto& k : keys_)
          if (k.res->kind == "dnsconf") pk.waitFor.push_back(k.res->id);
      pk.runs.push_back(r.seq);
      r.unsettled++;
      prunes_.emplace(c.id, std::move(pk));
      dirtyStatus_.insert(c.id);
      queue_->add(c.id);
    }
  }
  // Records of objects that left the spec and are gone (or were never ours).
  std::vector<std::string> stale;
  for (auto& [id, rec] : persisted_) {
    if (index_.count(id) || prunes_.count(id) || r.seen[pname].count(id)) continue;
    auto kp = kindProvider_.find(rec.kind);
    if (kp != kindProvider_.end() && kp->second == pname) stale.push_back(id);
  }
  for (auto& id : stale) {
    if (deps_.state) {
      auto w = deps_.state->deleteResource(id);
      if (!w) log::error("state: " + w.error().message);
    }
    persisted_.erase(id);
    std::lock_guard lk(privMu_);
    privateData_.erase(id);
  }
}

void EngineImpl::onApplied(Completion& c) {
  inflight_--;
  inflightByProvider_[c.batch.provider]--;
  limiter_.release(c.slots);
  if (c.out.recorded) {
    auto& slot = persisted_[c.id];
    slot = *c.out.recorded;
    if (auto k = index_.find(c.id); k != index_.end()) {
      keys_[k->second].rec = &slot;
      keys_[k->second].recLooked = true;
    }
    std::lock_guard lk(privMu_);
    if (emptyData(c.out.recorded->ownerData)) privateData_.erase(c.id);
    else privateData_[c.id] = c.out.recorded->ownerData;
  }
  auto it = index_.find(c.id);
  if (it == index_.end() || keys_[it->second].callId != c.callId || keys_[it->second].step != Step::Applying) {
    queue_->done(c.id);
    return;
  }
  int i = it->second;
  auto& k = keys_[i];
  k.step = Step::Idle;
  k.haveObservation = false;
  clearRerun(k);
  if (c.out.recorded) {
    k.recorded = true;
    k.lastAppliedUnix = c.out.recorded->lastAppliedUnix;
  }
  const auto& resp = c.out.resp;
  bool oldEpoch = c.epoch != epoch_;
  if (k.res->hash != c.desiredHash) {
    // The spec of this key changed while it was applied: reconcile it again.
    markDone(c.id, k.processing);
    queue_->add(c.id);
    return;
  }
  if (resp.outcome != Outcome::Busy && !k.changeCounted) {
    k.changeCounted = true;
    for (auto seq : k.runs)
      if (auto r = loopRuns_.find(seq); r != loopRuns_.end()) r->second->changed++;
  }
  bool drift = c.plan.drift;
  if (resp.outcome == Outcome::Ok || resp.outcome == Outcome::Progressing) {
    k.drifted = drift;
    if (drift && deps_.metrics) deps_.metrics->driftCorrected(k.res->kind);
  }
  std::string msg = resp.message.empty() ? describe(c.plan) : resp.message;
  switch (resp.outcome) {
    case Outcome::Ok:
      return settleReady(i, msg);
    case Outcome::Progressing: {
      if (oldEpoch) {
        k.phase = Phase::Progressing;
        k.message = redact(msg);
        return settle(i);
      }
      std::optional<Clock::Duration> after;
      if (resp.requeueAfter) after = *resp.requeueAfter;
      return progressing(i, msg, after, resp.started);
    }
    case Outcome::Busy: {
      // Not a failure: no backoff, no failure count; the phase says it is still to be done.
      k.phase = k.phaseBeforeApply == Phase::Progressing ? Phase::Progressing : Phase::Pending;
      k.message = redact(msg);
      Clock::Duration after = resp.requeueAfter ? Clock::Duration(*resp.requeueAfter)
                                                : Clock::Duration(opts_.recheckInterval);
      k.note = " (busy, retrying in " + seconds(after) + ")";
      if (oldEpoch) return settle(i);
      return toDelayed(i, after);
    }
    case Outcome::Failed:
      return handleFailure(i, Error{msg.empty() ? "apply failed" : msg, resp.terminal}, !oldEpoch);
  }
}

// ---- key transitions -----------------------------------------------------------------------

void EngineImpl::progressing(int i, std::string msg, std::optional<Clock::Duration> after, bool started) {
  auto& k = keys_[i];
  k.phase = Phase::Progressing;
  k.message = redact(std::move(msg));
  k.note.clear();
  k.haveObservation = false;
  if (started && !k.started) {
    k.started = true;
    releaseDependents(i, false);
  }
  toDelayed(i, after ? *after : Clock::Duration(opts_.recheckInterval));
}

void EngineImpl::toDelayed(int i, Clock::Duration after) {
  auto& k = keys_[i];
  k.step = Step::Delayed;
  markStatus(i);
  queue_->addAfter(k.res->id, after);
  markDone(k.res->id, k.processing);
  releaseFromLooseRuns(k.runs, false);
  persist(i);
}

void EngineImpl::toWaiting(int i, const std::string& on) {
  auto& k = keys_[i];
  k.step = Step::Waiting;
  k.phase = Phase::Blocked;
  k.message = "waiting for " + on;
  k.note.clear();
  markStatus(i);
  markDone(k.res->id, k.processing);
  releaseFromLooseRuns(k.runs, false);
}

void EngineImpl::handleFailure(int i, const Error& err, bool mayRetry) {
  auto& k = keys_[i];
  k.runFailures++;
  k.phase = Phase::Failed;
  k.message = redact(err.message);
  k.note.clear();
  k.haveObservation = false;
  if (err.terminal) {
    queue_->markTerminal(k.res->id, k.message);
    return settle(i);
  }
  if (!mayRetry) return settle(i);
  std::optional<Clock::Duration> d;
  if (k.scopeRetry) {
    d = *k.scopeRetry;
    k.scopeRetry.reset();
    queue_->addAfter(k.res->id, *d);
  } else {
    d = queue_->addRateLimited(k.res->id);
  }
  if (!d) return settle(i);
  k.note = " (retrying in " + seconds(*d) + ")";
  if (k.runFailures < opts_.maxAttemptsPerRun && *d <= Clock::Duration(opts_.maxRetryWaitPerRun)) {
    k.step = Step::Delayed;
    markStatus(i);
    markDone(k.res->id, k.processing);
    releaseFromLooseRuns(k.runs, false);
    persist(i);
    return;
  }
  // The runs that wait for it count it failed; the retry stays queued.
  settle(i);
  k.step = Step::Delayed;
}

void EngineImpl::settleReady(int i, std::string msg) {
  auto& k = keys_[i];
  k.phase = Phase::Ready;
  k.message = redact(std::move(msg));
  k.note.clear();
  k.root.clear();
  k.started = false;
  queue_->forget(k.res->id);  // success resets the backoff
  settle(i);
}

void EngineImpl::settleFailed(int i, std::string msg) {
  auto& k = keys_[i];
  k.phase = Phase::Failed;
  k.message = redact(std::move(msg));
  k.note.clear();
  settle(i);
}

void EngineImpl::settleBlocked(int i, const std::string& root) {
  auto& k = keys_[i];
  k.phase = Phase::Blocked;
  k.root = root;
  k.message = "waiting for " + root;
  k.note.clear();
  settle(i);
}

void EngineImpl::settle(int i) {
  auto& k = keys_[i];
  k.settled = true;
  k.step = Step::Idle;
  markStatus(i);
  markDone(k.res->id, k.processing);
  persist(i);
  countSettled(k.runs, k.phase);
  releaseDependents(i, k.phase == Phase::Ready);
  if (!prunes_.empty()) requeuePrunes();
}

void EngineImpl::releaseDependents(int i, bool readyNow) {
  for (int d : dependents_[i]) {
    auto& dk = keys_[d];
    if (dk.step == Step::Waiting) {
      queue_->add(dk.res->id);
    } else if (readyNow && dk.settled && dk.step == Step::Idle && dk.phase == Phase::Blocked) {
      // Blocked by this key, which is ready now: converge without waiting for a trigger.
      queue_->add(dk.res->id);
    }
  }
}

void EngineImpl::persist(int i) {
  auto& k = keys_[i];
  if (!deps_.state) return;
  const auto& id = k.res->id;
  const ResourceRecord* old = recordOf(i);
  std::string appliedHash = old ? old->lastAppliedHash : "";
  if (k.adopted && k.observed) appliedHash = k.observed->appliedHash;
  bool differs = !old || old->kind != k.res->kind || old->desiredHash != k.res->hash ||
                 old->lastAppliedHash != appliedHash || old->phase != k.phase ||
                 old->message != k.message || old->drifted != k.drifted ||
                 old->dependsOn != k.res->dependsOn;
  bool wasFailed = old && old->phase == Phase::Failed;
  auto nowMs = unixMs(*clock_);
  int64_t runId = 0;
  if (!k.runs.empty())
    if (auto r = loopRuns_.find(k.runs.front()); r != loopRuns_.end()) runId = r->second->id;
  if (differs) {
    ResourceRecord rec = old ? *old : ResourceRecord{};
    rec.id = id;
    rec.kind = k.res->kind;
    rec.desiredHash = k.res->hash;
    rec.lastAppliedHash = appliedHash;
    rec.phase = k.phase;
    rec.message = k.message;
    rec.drifted = k.drifted;
    rec.dependsOn = k.res->dependsOn;
    rec.updatedUnix = nowMs / 1000;
    auto r = deps_.state->putResource(rec);
    if (!r) log::error("state: " + r.error().message, {{"resource", id}});
    auto& slot = persisted_[id];
    slot = std::move(rec);
    k.rec = &slot;
    k.recLooked = true;
  }
  if (k.phase == Phase::Failed && !k.recorded && (!wasFailed || differs)) {
    EventRecord ev{0, nowMs, "error", id, k.conflict ? "Conflict" : "Failed", k.message, runId};
    auto r = deps_.state->appendEvent(ev);
    if (!r) log::error("state: " + r.error().message);
    k.recorded = true;  // once per round
  }
  if (k.adopted && !old) {
    EventRecord ev{0, nowMs, "info", id, "Adopted", "adopted the existing object by its ownership mark", runId};
    auto r = deps_.state->appendEvent(ev);
    if (!r) log::error("state: " + r.error().message);
  }
  k.adopted = false;
  if (k.provider) {
    auto& cur = kindProvider_[k.res->kind];
    if (cur != k.res->provider) {
      cur = k.res->provider;
      auto r = deps_.state->setMeta("kind_provider/" + k.res->kind, cur);
      if (!r) log::error("state: " + r.error().message);
    }
  }
}

// ---- prune ---------------------------------------------------------------------------------

void EngineImpl::requeuePrunes() {
  for (auto& [id, p] : prunes_)
    if (p.step == Step::Waiting) queue_->add(id);
}

void EngineImpl::stepPrune(const std::string& id) {
  auto& p = prunes_.at(id);
  p.settled = false;
  if (!p.nextRuns.empty()) {
    p.runs.insert(p.runs.end(), p.nextRuns.begin(), p.nextRuns.end());
    p.nextRuns.clear();
  }
  auto wait = [&](const std::string& on, bool settledOn) {
    p.message = "waiting for " + on;
    dirtyStatus_.insert(id);
    if (settledOn) {
      // What it waits for will not become ready in this round: the run stops waiting.
      markDone(id, p.processing);
      p.step = Step::Waiting;
      p.settled = true;
      countSettled(p.runs, Phase::Deleting);
      return;
    }
    p.step = Step::Waiting;
    markDone(id, p.processing);
  };
  for (auto& [qid, q] : prunes_)
    if (q.rank < p.rank) return wait(qid, q.settled);
  for (auto& g : p.waitFor) {
    auto it = index_.find(g);
    if (it == index_.end()) continue;
    auto& k = keys_[it->second];
    if (k.settled && k.phase == Phase::Ready) continue;
    return wait(g, k.settled);
  }
  const nlohmann::json* pd = nullptr;
  if (auto rec = persisted_.find(id); rec != persisted_.end()) pd = &rec->second.ownerData;
  auto pl = safePlan(*p.provider, nullptr, &p.observed, pd);
  if (!pl) return finishPrune(id, Phase::Failed, redact(pl.error().message), false);
  if (pl->action != Action::Delete && pl->action != Action::Noop)
    return finishPrune(id, Phase::Failed, redact("refusing to prune: provider planned " + describe(*pl)), false);
  if (pl->action == Action::Noop) {
    if (deps_.state) {
      auto r = deps_.state->deleteResource(id);
      if (!r) log::error("state: " + r.error().message);
    }
    return finishPrune(id, Phase::Ready, "", true);
  }
  p.plan = *pl;
  int limit = 4;
  if (auto it = loopGraph_->parallelism.find(p.providerName); it != loopGraph_->parallelism.end()) limit = it->second;
  else if (p.provider->defaultParallelism() > 0) limit = p.provider->defaultParallelism();
  std::vector<ConcurrencyKey> own;
  try {
    own = p.provider->concurrencyKeys(nullptr, p.plan);
  } catch (const std::exception& e) {
    log::error("provider " + p.providerName + " concurrencyKeys() threw: " + e.what());
  }
  p.slots = effectiveKeys(p.providerName, limit, std::move(own), loopGraph_->parallelism);
  p.step = Step::Held;
  heldPrunes_.push_back(id);
}

void EngineImpl::onPruneApplied(Completion& c) {
  inflight_--;
  inflightByProvider_[c.batch.provider]--;
  limiter_.release(c.slots);
  auto it = prunes_.find(c.id);
  if (it == prunes_.end() || it->second.callId != c.callId) {
    queue_->done(c.id);
    return;
  }
  auto& p = it->second;
  p.step = Step::Idle;
  const auto& resp = c.out.resp;
  bool oldEpoch = c.epoch != epoch_;
  for (auto seq : p.runs)
    if (auto r = loopRuns_.find(seq); r != loopRuns_.end() && resp.outcome == Outcome::Ok) r->second->changed++;
  switch (resp.outcome) {
    case Outcome::Ok:
      log::info("pruned " + c.id);
      return finishPrune(c.id, Phase::Ready, "", true);
    case Outcome::Progressing:
    case Outcome::Busy: {
      p.message = redact(resp.message.empty() ? "deleting" : resp.message);
      dirtyStatus_.insert(c.id);
      if (oldEpoch) return finishPrune(c.id, Phase::Deleting, p.message, false);
      queue_->addAfter(c.id, resp.requeueAfter ? Clock::Duration(*resp.requeueAfter)
                                               : Clock::Duration(opts_.recheckInterval));
      p.step = Step::Delayed;
      markDone(c.id, p.processing);
      return;
    }
    case Outcome::Failed: {
      p.failures++;
      std::string msg = redact(resp.message);
      if (!resp.terminal && !oldEpoch && p.failures < opts_.maxAttemptsPerRun) {
        if (auto d = queue_->addRateLimited(c.id)) {
          p.phase = Phase::Deleting;
          p.message = msg + " (retrying)";
          p.step = Step::Delayed;
          dirtyStatus_.insert(c.id);
          markDone(c.id, p.processing);
          return;
        }
      }
      return finishPrune(c.id, Phase::Failed, msg, false);
    }
  }
}

void EngineImpl::finishPrune(const std::string& id, Phase phase, std::string msg, bool removed) {
  auto it = prunes_.find(id);
  if (it == prunes_.end()) return;
  auto& p = it->second;
  markDone(id, p.processing);
  if (removed) {
    for (auto seq : p.runs)
      if (auto r = loopRuns_.find(seq); r != loopRuns_.end() && !r->second->finished) r->second->unsettled--;
    for (auto seq : p.nextRuns)
      if (auto r = loopRuns_.find(seq); r != loopRuns_.end() && !r->second->finished) r->second->unsettled--;
    prunes_.erase(it);
    persisted_.erase(id);
    {
      std::lock_guard lk(privMu_);
      privateData_.erase(id);
    }
    statusRemoved_.insert(id);
    dirtyStatus_.erase(id);
    requeuePrunes();
    return;
  }
  p.phase = phase;
  p.message = std::move(msg);
  p.settled = true;
  p.step = Step::Idle;
  dirtyStatus_.insert(id);
  countSettled(p.runs, phase);
}

// ---- status --------------------------------------------------------------------------------

void EngineImpl::publishStatus() {
  if (dirtyKeys_.empty() && dirtyStatus_.empty() && statusRemoved_.empty()) return;
  bool current = desired() == loopGraph_;
  std::lock_guard lk(statusMu_);
  for (int i : dirtyKeys_) {
    auto& k = keys_[i];
    k.statusDirty = false;
    const auto& id = k.res->id;
    auto sit = statusById_.find(id);
    if (sit == statusById_.end()) {
      if (!current) continue;  // a newer spec owns the list
      statusOrder_.push_back(id);
      sit = statusById_.emplace(id, ResourceStatus{}).first;
      sit->second.id = id;
      sit->second.kind = k.res->kind;
      sit->second.dependsOn = k.res->dependsOn;
    }
    auto& s = sit->second;
    const char* ph = phaseName(k.phase);
    if (s.phase != ph) {
      countsDirty_ = true;
      s.phase = ph;
    }
    if (k.note.empty()) {
      if (s.message != k.message) s.message = k.message;
    } else {
      s.message = k.message + k.note;
    }
    s.drifted = k.drifted;
    if (auto* rec = recordOf(i)) s.lastAppliedUnix = rec->lastAppliedUnix;
  }
  dirtyKeys_.clear();
  for (const auto& id : dirtyStatus_) {
    if (auto pt = prunes_.find(id); pt != prunes_.end()) {
      auto& p = pt->second;
      auto& s = statusById_[id];
      if (s.id.empty()) statusOrder_.push_back(id);
      s.id = id;
      s.kind = p.kind;
      if (s.phase != phaseName(p.phase)) countsDirty_ = true;
      s.phase = phaseName(p.phase);
      s.message = p.message;
    }
  }
  dirtyStatus_.clear();
  if (!statusRemoved_.empty()) {
    for (auto& id : statusRemoved_)
      if (!index_.count(id)) statusById_.erase(id);
    statusOrder_.erase(std::remove_if(statusOrder_.begin(), statusOrder_.end(),
                                      [&](const std::string& id) { return !statusById_.count(id); }),
                       statusOrder_.end());
    statusRemoved_.clear();
    countsDirty_ = true;
  }
}

}  // namespace tend::engine
