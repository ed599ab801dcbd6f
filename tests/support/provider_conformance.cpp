#include "tests/support/provider_conformance.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

namespace tend::testing {

namespace {

std::optional<ObservedResource> observeOne(Provider& p, const DesiredResource& r,
                                           const CallContext& ctx,
                                           const nlohmann::json& privateData = nullptr) {
  ObserveRequest req;
  req.desired = {&r};
  req.includeOwned = false;
  req.ctx = ctx;
  if (!privateData.is_null()) req.privateData[r.id] = privateData;
  auto resp = p.observe(req);
  INFO("observe " << r.id);
  auto e = resp.errors.find(r.id);
  CHECK(e == resp.errors.end());
  INFO("scope error: " << (resp.scopeError ? resp.scopeError->message : std::string()));
  CHECK_FALSE(resp.scopeError.has_value());
  if (resp.scopeError) return std::nullopt;
  if (e != resp.errors.end()) {
    INFO("observe error: " << e->second.message);
    return std::nullopt;
  }
  auto it = resp.observed.find(r.id);
  if (it == resp.observed.end() || !it->second.exists) return std::nullopt;
  CHECK(it->second.id == r.id);
  return it->second;
}

// After an apply of `r`: the object exists, carries tend's mark and r's hash.
ObservedResource observeApplied(Provider& p, const DesiredResource& r, const CallContext& ctx,
                                const nlohmann::json& privateData = nullptr) {
  auto o = observeOne(p, r, ctx, privateData);
  REQUIRE(o.has_value());
  CHECK(o->owned);
  CHECK(o->appliedHash == r.hash);
  return *o;
}

bool samePlan(const PlannedAction& a, const PlannedAction& b) {
  return a.id == b.id && a.action == b.action && a.reason == b.reason && a.diff == b.diff &&
         a.conflict == b.conflict && a.drift == b.drift;
}

// Apply and, when the provider answers Progressing, poll until observe says ready.
ApplyResponse applyAndSettle(Provider& p, const PlannedAction& plan, const DesiredResource* d,
                             const std::optional<ObservedResource>& obs, const CallContext& ctx,
                             const ConformanceOptions& opts) {
  ApplyRequest req;
  req.action = plan;
  req.desired = d;
  req.observed = obs ? &*obs : nullptr;
  req.ctx = ctx;
  auto resp = p.apply(req);
  // As the engine does: re-observe; while the plan still wants a change (a provider following
  // a task through several steps), apply again with the private data handed back.
  nlohmann::json priv = resp.privateData;
  if (resp.outcome == Outcome::Progressing && d) {
    for (int i = 0; i < opts.maxPolls; ++i) {
      std::this_thread::sleep_for(opts.pollInterval);
      auto o = observeOne(p, *d, ctx, priv);
      PlanRequest pr{d, o ? &*o : nullptr};
      if (!priv.is_null()) pr.privateData = &priv;
      auto next = p.plan(pr);
      if (next.action == Action::Noop) {
        if (o && o->ready) break;
        continue;
      }
      ApplyRequest again{next, d, o ? &*o : nullptr, ctx};
      again.privateData = priv;
      auto r = p.apply(again);
      if (!r.privateData.is_null()) priv = r.privateData;
      if (r.outcome == Outcome::Failed) {
        resp = r;
        break;
      }
      if (r.outcome == Outcome::Ok) {
        resp.outcome = Outcome::Ok;
        resp.message = r.message;
      }
    }
    resp.privateData = priv;
  }
  return resp;
}

}  // namespace

CallContext conformanceContext() {
  CallContext ctx;
  ctx.deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  ctx.environment = "conformance";
  return ctx;
}

void runProviderConformance(Provider& p, const std::vector<DesiredResource>& samples,
                            CallContext ctx, ConformanceOptions opts) {
  INFO("provider " << p.name());
  auto kinds = p.kinds();
  for (const auto& s : samples) {
    INFO("sample " << s.id);
    CHECK(std::find(kinds.begin(), kinds.end(), s.kind) != kinds.end());
    // Leftovers of an earlier run: delete owned ones; an unowned one means a bad sample name.
    if (auto o = observeOne(p, s, ctx)) {
      REQUIRE(o->owned);
      auto del = p.plan(PlanRequest{nullptr, &*o});
      applyAndSettle(p, del, nullptr, o, ctx, opts);
    }
  }

  for (const auto& s : samples) {
    INFO("sample " << s.id);
    // 1. absent → create; pure.
    auto o0 = observeOne(p, s, ctx);
    REQUIRE_FALSE(o0.has_value());
    auto plan1 = p.plan(PlanRequest{&s, nullptr});
    auto plan2 = p.plan(PlanRequest{&s, nullptr});
    CHECK(plan1.action == Action::Create);
    CHECK_FALSE(plan1.conflict);
    CHECK(plan1.id == s.id);
    CHECK(samePlan(plan1, plan2));

    // 2. create; observe shows it marked with the hash; plan → noop.
    auto r = applyAndSettle(p, plan1, &s, std::nullopt, ctx, opts);
    INFO("apply message: " << r.message);
    REQUIRE(r.outcome != Outcome::Failed);
    std::optional<ObservedResource> o1 = observeApplied(p, s, ctx);
    if (r.outcome == Outcome::Ok) CHECK(o1->ready);
    auto planAfter = p.plan(PlanRequest{&s, &*o1});
    INFO("plan after apply: " << actionName(planAfter.action) << " " << planAfter.reason);
    CHECK(planAfter.action == Action::Noop);
    CHECK_FALSE(planAfter.drift);
    CHECK(samePlan(planAfter, p.plan(PlanRequest{&s, &*o1})));

    // 3. the same create again is idempotent.
    auto r2 = applyAndSettle(p, plan1, &s, o1, ctx, opts);
    INFO("second apply message: " << r2.message);
    CHECK(r2.outcome != Outcome::Failed);
    std::optional<ObservedResource> o2 = observeApplied(p, s, ctx);
    CHECK(p.plan(PlanRequest{&s, &*o2}).action == Action::Noop);

    // 9. the private data survives a restart: a fresh instance given it agrees.
    if (opts.restart) {
      INFO("restart with private data " << r.privateData.dump());
      auto fresh = opts.restart();
      REQUIRE(fresh);
      auto o9 = observeApplied(*fresh, s, ctx, r.privateData);
      PlanRequest pr{&s, &o9};
      if (!r.privateData.is_null()) pr.privateData = &r.privateData;
      auto p9 = fresh->plan(pr);
      CHECK(p9.action == Action::Noop);
      ApplyRequest again{plan1, &s, &o9, ctx};
      again.privateData = r.privateData;
      auto r9 = fresh->apply(again);
      INFO("apply after restart: " << r9.message);
      CHECK(r9.outcome != Outcome::Failed);
      auto o9b = observeOne(*fresh, s, ctx, r.privateData);
      REQUIRE(o9b.has_value());
      CHECK(fresh->plan(PlanRequest{&s, &*o9b}).action == Action::Noop);
    }

    // 4. owned objects are reported without being asked for (prune, adoption).
    ObserveRequest all;
    all.includeOwned = true;
    all.ctx = ctx;
    auto resp = p.observe(all);
    auto it = resp.observed.find(s.id);
    CHECK(it != resp.observed.end());
    if (it != resp.observed.end()) {
      CHECK(it->second.owned);
      CHECK(it->second.appliedHash == s.hash);
    }

    // 5. a changed spec is planned as a change and applied.
    if (opts.changed) {
      DesiredResource c = opts.changed(s);
      REQUIRE(c.id == s.id);
      REQUIRE(c.hash != s.hash);
      auto pc = p.plan(PlanRequest{&c, &*o2});
      CHECK((pc.action == Action::Update || pc.action == Action::Replace));
      auto rc = applyAndSettle(p, pc, &c, o2, ctx, opts);
      INFO("update message: " << rc.message);
      CHECK(rc.outcome != Outcome::Failed);
      auto o3 = observeApplied(p, c, ctx);
      CHECK(p.plan(PlanRequest{&c, &o3}).action == Action::Noop);
    }
  }

  // 11. busy: a lock held elsewhere is not a failure.
  if (opts.makeBusy && !samples.empty()) {
    const auto& s = samples.front();
    INFO("sample " << s.id << " (busy)");
    auto before = observeOne(p, s, ctx);
    REQUIRE(before.has_value());
    opts.makeBusy(s);
    PlannedAction upd = p.plan(PlanRequest{&s, &*before});
    upd.action = Action::Update;
    auto rb = p.apply(ApplyRequest{upd, &s, &*before, ctx});
    INFO("busy message: " << rb.message);
    CHECK(rb.outcome == Outcome::Busy);
    CHECK(rb.requeueAfter.has_value());
    if (rb.requeueAfter) CHECK(rb.requeueAfter->count() > 0);
    CHECK_FALSE(rb.message.empty());
    if (opts.clearBusy) opts.clearBusy(s);
    auto ra = p.apply(ApplyRequest{upd, &s, &*before, ctx});
    CHECK(ra.outcome == Outcome::Ok);
  }

  // 12. a host-level error is one root cause for the whole scope.
  if (opts.breakScope && !samples.empty()) {
    const auto& s = samples.front();
    INFO("sample " << s.id << " (scope down)");
    opts.breakScope(s);
    ObserveRequest req;
    for (const auto& x : samples) req.desired.push_back(&x);
    req.includeOwned = false;
    req.ctx = ctx;
    auto resp = p.observe(req);
    if (resp.scopeError) {
      CHECK_FALSE(resp.scopeError->message.empty());
    } else {
      REQUIRE(resp.errors.count(s.id));
      CHECK_FALSE(resp.errors[s.id].message.empty());
      for (const auto& [id, e] : resp.errors) CHECK(e.message == resp.errors[s.id].message);
    }
    if (opts.restoreScope) opts.restoreScope(s);
    CHECK(observeOne(p, s, ctx).has_value());
  }

  // 13. cancellation interrupts a call blocked in I/O.
  if (opts.blockingCall) {
    INFO("cancellation of a blocking call");
    CallContext c = ctx;
    auto sig = CancelSignal::make();
    c.cancel = sig;
    c.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::atomic<bool> returned{false};
    std::thread t([&] {
      opts.blockingCall(c);
      returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK_FALSE(returned.load());
    auto t0 = std::chrono::steady_clock::now();
    sig->cancel();
    while (!returned && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    CHECK(returned.load());
    t.join();
  }

  // 10. progressing across passes: the task is followed through its private data.
  if (opts.progressingSample) {
    const DesiredResource& s = *opts.progressingSample;
    INFO("sample " << s.id << " (progressing)");
    std::unique_ptr<Provider> restarted;
    Provider* cur = &p;
    int startedBefore = opts.operationsStarted ? opts.operationsStarted() : 0;
    nlohmann::json priv;
    bool sawProgressing = false, done = false;
    for (int pass = 0; pass < opts.maxPasses && !done; ++pass) {
      auto o = observeOne(*cur, s, ctx, priv);
      PlanRequest pr{&s, o ? &*o : nullptr};
      if (!priv.is_null()) pr.privateData = &priv;
      auto pl = cur->plan(pr);
      if (pl.action == Action::Noop) {
        done = o && o->ready;
        if (!done && opts.advance) opts.advance();
        continue;
      }
      ApplyRequest ar{pl, &s, o ? &*o : nullptr, ctx};
      ar.privateData = priv;
      auto r = cur->apply(ar);
      INFO("pass " << pass << ": " << r.message);
      REQUIRE(r.outcome != Outcome::Failed);
      if (!r.privateData.is_null()) priv = r.privateData;
      if (r.outcome == Outcome::Progressing) {
        if (!sawProgressing) {
          CHECK(r.requeueAfter.has_value());
          CHECK_FALSE(priv.is_null());
        }
        sawProgressing = true;
        if (pass == 1 && opts.restart) {  // tendd restarted while the task runs
          restarted = opts.restart();
          cur = restarted.get();
        }
      } else if (r.outcome == Outcome::Ok) {
        done = true;
      }
      if (!done && opts.advance) opts.advance();
    }
    CHECK(sawProgressing);
    CHECK(done);
    if (opts.operationsStarted) CHECK(opts.operationsStarted() - startedBefore == 1);
    auto o = observeApplied(*cur, s, ctx, priv);
    auto del = cur->plan(PlanRequest{nullptr, &o});
    cur->apply(ApplyRequest{del, nullptr, &o, ctx});
  }

  // 6./7. delete in reverse order (dependents first); delete of an absent object succeeds.
  for (auto s = samples.rbegin(); s != samples.rend(); ++s) {
    INFO("sample " << s->id);
    auto o = observeOne(p, *s, ctx);
    REQUIRE(o.has_value());
    auto del = p.plan(PlanRequest{nullptr, &*o});
    CHECK(del.action == Action::Delete);
    auto r = applyAndSettle(p, del, nullptr, o, ctx, opts);
    // A delete that runs as tasks (stop, then destroy) is re-applied until done, as prune does.
    for (int i = 0; i < opts.maxPolls && r.outcome == Outcome::Progressing; ++i) {
      std::this_thread::sleep_for(opts.pollInterval);
      auto cur = observeOne(p, *s, ctx);
      r = applyAndSettle(p, del, nullptr, cur, ctx, opts);
    }
    INFO("delete message: " << r.message);
    CHECK(r.outcome == Outcome::Ok);
    CHECK_FALSE(observeOne(p, *s, ctx).has_value());
    auto again = applyAndSettle(p, del, nullptr, std::nullopt, ctx, opts);
    INFO("second delete message: " << again.message);
    CHECK(again.outcome == Outcome::Ok);
  }

  // 8. unowned objects: conflict, never touched.
  if (opts.createUnowned) {
    for (const auto& s : samples) {
      INFO("sample " << s.id << " (unowned)");
      opts.createUnowned(s);
      auto o = observeOne(p, s, ctx);
      REQUIRE(o.has_value());
      CHECK_FALSE(o->owned);
      auto pl = p.plan(PlanRequest{&s, &*o});
      CHECK(pl.conflict);
      auto r = p.apply(ApplyRequest{pl, &s, &*o, ctx});
      CHECK(r.outcome == Outcome::Failed);
      // Even a delete request must leave an unmarked object alone.
      PlannedAction del;
      del.id = s.id;
      del.kind = s.kind;
      del.action = Action::Delete;
      p.apply(ApplyRequest{del, nullptr, &*o, ctx});
      auto after = observeOne(p, s, ctx);
      CHECK(after.has_value());
      if (after) CHECK_FALSE(after->owned);
      ObserveRequest all;
      all.includeOwned = true;
      all.ctx = ctx;
      auto resp = p.observe(all);
      auto it = resp.observed.find(s.id);
      if (it != resp.observed.end()) CHECK_FALSE(it->second.owned);
      if (opts.removeUnowned) opts.removeUnowned(s);
    }
  }
}

}  // namespace tend::testing
