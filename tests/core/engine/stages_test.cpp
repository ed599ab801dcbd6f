// The engine's stages on their own: pure bookkeeping, no threads.
#include <catch2/catch.hpp>

#include "core/engine/apply_stage.h"
#include "core/engine/observe_stage.h"
#include "core/engine/plan_stage.h"
#include "core/engine/prune_stage.h"
#include "core/engine/schedule_stage.h"
#include "tests/core/engine/engine_fixture.h"

using namespace tend;
using namespace tend::engine;
using namespace tend::testing;

TEST_CASE("schedule: dependencies go, wait, or block on one root cause", "[core][engine][stages]") {
  DepView ready{"a", true, true, false, false, ""};
  DepView active{"b", true, false, true, false, ""};
  DepView failed{"c", true, false, false, false, ""};
  DepView blocked{"d", true, false, false, true, "root/x"};
  DepView unknown{"e", false, false, false, false, ""};
  CHECK(dependencyVerdict({}).what == DepVerdict::Go);
  CHECK(dependencyVerdict({ready}).what == DepVerdict::Go);
  auto w = dependencyVerdict({ready, failed, active});
  CHECK(w.what == DepVerdict::Wait);  // a dependency still at work may yet become ready
  CHECK(w.on == "b");
  auto b = dependencyVerdict({blocked, failed});
  CHECK(b.what == DepVerdict::Blocked);
  CHECK(b.on == "c");  // the failed one is the root cause, not a blocked one
  CHECK(dependencyVerdict({blocked}).on == "root/x");
  CHECK(dependencyVerdict({unknown}).on == "e");
}

TEST_CASE("schedule: concurrency keys are all-or-nothing and take spec overrides", "[core][engine][stages]") {
  auto keys = effectiveKeys("proxmox", 4, {{"node/pve1", 2}, {"vm/101", 1}}, {{"proxmox/node", 3}});
  REQUIRE(keys.size() == 3);
  CHECK(keys[0].name == "provider:proxmox");
  CHECK(keys[0].limit == 4);
  CHECK(keys[1].limit == 3);  // reconcile.parallelism.proxmox.node
  CHECK(keys[2].limit == 1);
  ConcurrencyLimiter l;
  CHECK(l.tryAcquire(keys));
  auto sameVm = effectiveKeys("proxmox", 4, {{"node/pve1", 2}, {"vm/101", 1}}, {});
  CHECK_FALSE(l.tryAcquire(sameVm));  // one operation per VM
  CHECK(l.inUse("proxmox:node/pve1") == 1);  // nothing taken by the refused one
  l.release(keys);
  CHECK(l.tryAcquire(sameVm));
}

TEST_CASE("observe: one call per scope in flight, later keys wait for the next batch", "[core][engine][stages]") {
  MemoryProvider p;
  ObserveBatcher b;
  BatchKey h1{"memory", "h1"}, h2{"memory", "h2"};
  b.add(h1, &p, "a");
  b.add(h1, &p, "b");
  b.add(h2, &p, "c");
  auto first = b.takeReady();
  REQUIRE(first.size() == 2);
  CHECK(first[0].second.ids.size() == 2);
  b.add(h1, &p, "d");
  b.wantListing(h1, &p, 7);
  CHECK(b.takeReady().empty());  // h1's call is still out
  b.finished(h1);
  auto second = b.takeReady();
  REQUIRE(second.size() == 1);
  CHECK(second[0].second.ids == std::vector<std::string>{"d"});
  CHECK(second[0].second.includeOwned);
  CHECK(second[0].second.listFor == std::vector<int64_t>{7});
}

TEST_CASE("observe: a call that failed as a whole is a scope error for every id", "[core][engine][stages]") {
  MemoryProvider p;
  MemoryProvider::Faults f;
  f.failNthObserve = 1;
  p.setFaults(f);
  auto a = res("container/a/x"), b = res("container/a/y");
  ObserveRequest req;
  req.desired = {&a, &b};
  auto resp = safeObserve(p, "memory", req, nullptr);
  REQUIRE(resp.scopeError.has_value());
  CHECK(resp.errors.size() == 2);
}

TEST_CASE("prune: owned, well-formed objects of the provider's kinds, dependents first", "[core][engine][stages]") {
  auto g = graphOf({res("container/a/keep")});
  std::map<std::string, ObservedResource> obs;
  auto mk = [](std::string id, bool owned) {
    ObservedResource o;
    o.id = id;
    o.exists = true;
    o.owned = owned;
    return o;
  };
  obs["container/a/keep"] = mk("container/a/keep", true);
  obs["container/a/old"] = mk("container/a/old", true);
  obs["container/a/manual"] = mk("container/a/manual", false);
  obs["network/h/old"] = mk("network/h/old", true);
  obs["mismatch"] = mk("container/a/other", true);
  obs["vm/x"] = mk("vm/x", true);  // a kind of another provider
  auto c = pruneCandidates(obs, {"container", "network"}, *g, "memory");
  REQUIRE(c.size() == 2);
  CHECK(c[0].id == "container/a/old");
  CHECK(c[1].id == "network/h/old");
  CHECK(pruneRank("container") < pruneRank("network"));
  CHECK(pruneRank("zone") < pruneRank("host"));
  CHECK(pruneRank("vm") < pruneRank("template"));
}

TEST_CASE("apply and record: private data is handed back and kept", "[core][engine][stages]") {
  MemoryProvider p;
  MemoryStateStore store;
  FakeClock clock;
  p.setClock(&clock);
  MemoryProvider::Faults f;
  f.taskIds["vm/a"] = std::chrono::seconds(60);
  p.setFaults(f);
  auto d = res("vm/a");
  ApplyInput in;
  in.id = d.id;
  in.kind = d.kind;
  in.providerName = "memory";
  in.desired = &d;
  in.provider = &p;
  in.plan = p.plan(PlanRequest{&d, nullptr});
  in.store = &store;
  in.clock = &clock;
  auto out = applyAndRecord(in);
  REQUIRE(out.recorded);
  CHECK(out.resp.outcome == Outcome::Progressing);
  CHECK(store.resources()["vm/a"].ownerData["task"].is_string());
  in.prev = *out.recorded;
  clock.advance(std::chrono::seconds(61));
  auto done = applyAndRecord(in);
  CHECK(done.resp.outcome == Outcome::Ok);
  CHECK(p.tasksStarted() == 1);
  CHECK(store.resources()["vm/a"].phase == Phase::Ready);
}

TEST_CASE("plan stage: GET /v1/plan and dry runs share one decision", "[core][engine][stages]") {
  MemoryProvider p;
  p.put(MemoryProvider::Object{"container/a/old", true, "h", true, nlohmann::json::object()});
  PlanStageInput in;
  in.graph = graphOf({res("container/a/new"), res("host/x", {}, "1", "none"), res("vm/y", {}, "1", "nope")});
  in.providerFor = [&](const std::string& n) -> Provider* { return n == "memory" ? &p : nullptr; };
  auto out = planStage(in);
  REQUIRE(out.size() == 4);
  CHECK(out[0].action.action == Action::Create);
  CHECK(out[1].action.reason == kNoHostMessage);
  CHECK(out[2].error.has_value());
  CHECK(out[3].prune);
  CHECK(out[3].action.action == Action::Delete);
}
