// The continuous engine on a fake clock: work that takes minutes costs no worker and blocks
// no other key; busy, backoff and scope errors behave as documented. No test sleeps for the
// clock: time moves by FakeClock::advance, then the engine is woken and waited idle.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "tests/core/engine/engine_fixture.h"

using namespace std::chrono_literals;
using namespace tend;
using namespace tend::testing;

namespace {

DesiredResource on(const std::string& id, const std::string& host, std::vector<std::string> deps = {},
                   const std::string& version = "1") {
  auto r = res(id, std::move(deps), version);
  r.spec["host"] = host;
  r.hash = "hash-" + id + "-" + version;
  return r;
}

template <class F>
bool within(std::chrono::milliseconds limit, F cond) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct ClockRig : Rig {
  FakeClock clock;
  ClockRig() {
    opts.backoffBase = 1s;
    opts.backoffCap = 8s;
    opts.recheckInterval = 30s;
    mem.setClock(&clock);
  }
  Engine& makeClocked() {
    engine.reset();
    EngineDeps d;
    d.state = &store;
    d.metrics = &metrics;
    d.clock = &clock;
    d.providerFor = [this](const std::string& n) -> Provider* { return n == "memory" ? &mem : nullptr; };
    engine = makeEngine(d, opts);
    return *engine;
  }
  void step(Clock::Duration d) {
    clock.advance(d);
    impl().wake();
    REQUIRE(impl().waitIdle());
  }
};

}  // namespace

TEST_CASE("a resource progressing for 10 minutes does not hold back a spec edit to another",
          "[core][engine][continuous]") {
  ClockRig rig;
  MemoryProvider::Faults f;
  f.taskIds["vm/big"] = 600s;
  f.taskPoll = 30s;
  rig.mem.setFaults(f);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({res("vm/big"), res("container/app/web")}));
  std::promise<RunResult> first;
  e.start(RunRequest{}, [&](const RunResult& r) { first.set_value(r); });
  REQUIRE(rig.impl().waitIdle());
  CHECK(rig.status("vm/big").phase == "progressing");
  CHECK(rig.status("container/app/web").phase == "ready");
  // Waiting on its task costs no worker: no call in flight, one delayed key.
  CHECK(rig.impl().callsInFlight() == 0);
  CHECK(rig.impl().queue().delayedLen() == 1);

  // The spec of the container changes while the VM clone runs: applied at once.
  auto t0 = std::chrono::steady_clock::now();
  e.setDesired(graphOf({res("vm/big"), res("container/app/web", {}, "2")}));
  RunRequest edit;
  edit.trigger = "inotify";
  auto second = std::async(std::launch::async, [&] {
    RunRequest only;
    only.resources = {"container/app/web"};
    return e.run(only);
  });
  REQUIRE(second.wait_for(1s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(second.get().result == "success");
  CHECK(rig.mem.get("container/app/web")->appliedHash == "hash-container/app/web-2");
  CHECK(rig.status("vm/big").phase == "progressing");

  // Ten minutes later the task is done: one task was started, and the first run ends.
  for (int i = 0; i < 20; ++i) rig.step(30s);
  CHECK(rig.status("vm/big").phase == "ready");
  CHECK(rig.mem.tasksStarted() == 1);
  auto fut = first.get_future();
  REQUIRE(fut.wait_for(2s) == std::future_status::ready);
  CHECK(fut.get().result == "success");
}

TEST_CASE("a restart in the middle of a progressing apply follows the same task", "[core][engine][continuous]") {
  ClockRig rig;
  MemoryProvider::Faults f;
  f.taskIds["vm/clone"] = 300s;
  f.taskPoll = 20s;
  rig.mem.setFaults(f);
  auto g = graphOf({res("vm/clone"), res("host/clone", {"vm/clone"})});
  {
    auto& e = rig.makeClocked();
    e.setDesired(g);
    e.start(RunRequest{}, nullptr);
    REQUIRE(rig.impl().waitIdle());
    rig.step(60s);
    CHECK(rig.status("vm/clone").phase == "progressing");
    CHECK(rig.status("host/clone").phase == "blocked");
    CHECK(rig.mem.tasksStarted() == 1);
    auto rec = rig.store.resources()["vm/clone"];
    CHECK(rec.ownerData["task"].is_string());  // the task id is in the state, not only in memory
  }
  // tendd restarts: a new engine on the same state and the same (remote) provider.
  auto& e2 = rig.makeClocked();
  CHECK(rig.status("vm/clone").phase == "progressing");
  e2.setDesired(g);
  std::promise<RunResult> done;
  e2.start(RunRequest{}, [&](const RunResult& r) { done.set_value(r); });
  REQUIRE(rig.impl().waitIdle());
  for (int i = 0; i < 15; ++i) rig.step(20s);
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(2s) == std::future_status::ready);
  CHECK(fut.get().result == "success");
  CHECK(rig.mem.tasksStarted() == 1);  // followed, never started twice
  CHECK(rig.mem.get("vm/clone"));
  CHECK(rig.status("host/clone").phase == "ready");
}

TEST_CASE("a hung provider delays only its own resources and their dependents", "[core][engine][continuous]") {
  Rig rig;
  MemoryProvider slow{"slow"};
  MemoryProvider::Faults f;
  f.hangObserve = true;
  slow.setFaults(f);
  EngineDeps d;
  d.state = &rig.store;
  d.providerFor = [&](const std::string& n) -> Provider* {
    return n == "memory" ? &rig.mem : n == "slow" ? &slow : nullptr;
  };
  auto e = makeEngine(d, rig.opts);
  e->setDesired(graphOf({res("vm/s", {}, "1", "slow"), res("host/s", {"vm/s"}),
                         res("network/a/n"), res("container/a/x", {"network/a/n"})}));
  std::promise<RunResult> done;
  e->start(RunRequest{}, [&](const RunResult& r) { done.set_value(r); });
  auto phase = [&](const std::string& id) {
    for (auto& s : e->status())
      if (s.id == id) return s.phase;
    return std::string();
  };
  CHECK(within(5s, [&] { return phase("container/a/x") == "ready" && phase("network/a/n") == "ready"; }));
  CHECK(phase("host/s") == "blocked");
  auto fut = done.get_future();
  CHECK(fut.wait_for(50ms) == std::future_status::timeout);  // the run waits for the hung one
  e->cancel();
  REQUIRE(fut.wait_for(3s) == std::future_status::ready);
  CHECK(fut.get().result == "cancelled");
}

TEST_CASE("busy is retried after its delay without counting as a failure", "[core][engine][continuous]") {
  ClockRig rig;
  MemoryProvider::Faults f;
  f.busyApplies["container/a/x"] = 2;
  f.busyAfter = 3s;
  rig.mem.setFaults(f);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({res("container/a/x")}));
  std::promise<RunResult> done;
  e.start(RunRequest{}, [&](const RunResult& r) { done.set_value(r); });
  REQUIRE(rig.impl().waitIdle());
  auto s = rig.status("container/a/x");
  CHECK(s.phase == "pending");
  CHECK(s.message.find("busy, retrying in 3.0s") != std::string::npos);
  CHECK(rig.impl().queue().failures("container/a/x") == 0);
  rig.step(3s);
  rig.step(3s);
  CHECK(rig.status("container/a/x").phase == "ready");
  CHECK(rig.mem.applyCount("container/a/x") == 3);
  CHECK(rig.events("Failed") == 0);
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(2s) == std::future_status::ready);
  CHECK(fut.get().result == "success");
}

TEST_CASE("per-key backoff survives runs, reaches its cap, and resets on a spec change or success",
          "[core][engine][continuous]") {
  ClockRig rig;
  rig.opts.maxAttemptsPerRun = 1;
  MemoryProvider::Faults f;
  f.failApplyIds = {"container/a/x"};
  rig.mem.setFaults(f);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({res("container/a/x")}));
  for (int i = 1; i <= 5; ++i) {
    CHECK(e.run(RunRequest{}).result == "failed");
    CHECK(rig.impl().queue().failures("container/a/x") == i);
  }
  CHECK(rig.impl().queue().nextBackoff("container/a/x") == Clock::Duration(8s));  // the cap
  // Without any trigger the key is retried when its backoff ends.
  int before = rig.mem.applyCount("container/a/x");
  rig.step(9s);
  CHECK(rig.mem.applyCount("container/a/x") == before + 1);
  // A spec change for the key is a fresh start.
  e.setDesired(graphOf({res("container/a/x", {}, "2")}));
  REQUIRE(rig.impl().waitIdle());
  CHECK(rig.impl().queue().failures("container/a/x") == 0);
  // Success resets it too.
  CHECK(e.run(RunRequest{}).result == "failed");
  CHECK(rig.impl().queue().failures("container/a/x") == 1);
  rig.mem.setFaults({});
  CHECK(e.run(RunRequest{}).result == "success");
  CHECK(rig.impl().queue().failures("container/a/x") == 0);
}

TEST_CASE("a host-level error fails that host's resources at once with one root cause",
          "[core][engine][continuous]") {
  ClockRig rig;
  rig.opts.maxAttemptsPerRun = 1;
  MemoryProvider::Faults f;
  f.downScopes = {"h1"};
  rig.mem.setFaults(f);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({on("container/a/1", "h1"), on("container/a/2", "h1"), on("container/a/3", "h1"),
                        on("container/b/1", "h2")}));
  auto r = e.run(RunRequest{});
  CHECK(r.result == "failed");
  CHECK(r.failed == 3);
  CHECK(r.ready == 1);
  for (auto id : {"container/a/1", "container/a/2", "container/a/3"}) {
    CHECK(rig.status(id).phase == "failed");
    CHECK(rig.status(id).message.find("host h1 unreachable") != std::string::npos);
  }
  // One call per host and attempt, never one per resource.
  for (auto& call : rig.mem.observeLog())
    if (!call.empty() && call.front().rfind("container/a/", 0) == 0) CHECK(call.size() == 3);
  int calls = static_cast<int>(rig.mem.observeLog().size());
  // One backoff for the host: the three come back together.
  rig.step(2s);
  int h1calls = 0;
  auto log = rig.mem.observeLog();
  for (size_t i = calls; i < log.size(); ++i) h1calls += !log[i].empty() && log[i].front().rfind("container/a/", 0) == 0;
  CHECK(h1calls == 1);
}

TEST_CASE("a failed scope's backoff is raised once per retry, not once per failed call",
          "[core][engine][continuous]") {
  ClockRig rig;
  rig.opts.maxAttemptsPerRun = 1;
  MemoryProvider::Faults f;
  f.downScopes = {"h1"};
  rig.mem.setFaults(f);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({on("container/a/1", "h1"), on("container/a/2", "h1")}));
  const std::string scopeKey = std::string("\x01scope:") + "memory/h1";
  RunRequest one;
  one.resources = {"container/a/1"};
  CHECK(e.run(one).failed == 1);
  CHECK(rig.impl().queue().failures(scopeKey) == 1);
  // Another key of the same host fails while the host's backoff (1 s) still runs: it shares
  // that backoff instead of doubling it.
  rig.clock.advance(400ms);
  RunRequest two;
  two.resources = {"container/a/2"};
  CHECK(e.run(two).failed == 1);
  CHECK(rig.impl().queue().failures(scopeKey) == 1);
  CHECK(rig.status("container/a/2").message.find("host h1 unreachable") != std::string::npos);
  // The retry after the backoff brings both back in one call, and that failure raises it once.
  size_t calls = rig.mem.observeLog().size();
  rig.step(700ms);  // 1.1 s after the first failure: past the backoff with its jitter (<= 10%)
  auto log = rig.mem.observeLog();
  REQUIRE(log.size() == calls + 1);
  CHECK(log.back().size() == 2);
  CHECK(rig.impl().queue().failures(scopeKey) == 2);
  // The host comes back: the next retry succeeds and the backoff is forgotten.
  rig.mem.setFaults(MemoryProvider::Faults{});
  rig.step(3s);
  CHECK(rig.status("container/a/1").phase == "ready");
  CHECK(rig.status("container/a/2").phase == "ready");
  CHECK(rig.impl().queue().failures(scopeKey) == 0);
}

TEST_CASE("the owned listing gets the private data of records that left the spec (a task an interrupted apply "
          "left running)",
          "[core][engine][continuous]") {
  ClockRig rig;
  MemoryProvider::Faults f;
  f.taskIds["vm/clone"] = 300s;
  rig.mem.setFaults(f);
  {
    auto& e = rig.makeClocked();
    e.setDesired(graphOf({res("vm/clone"), res("vm/other")}));
    e.start(RunRequest{}, nullptr);
    REQUIRE(rig.impl().waitIdle());
    REQUIRE(rig.store.resources()["vm/clone"].ownerData["task"].is_string());
  }
  // tendd restarts with a spec that no longer has vm/clone.
  std::mutex mu;
  std::vector<ObserveRequest> seen;
  rig.mem.onObserve([&](const ObserveRequest& r) {
    std::lock_guard lk(mu);
    seen.push_back(r);
  });
  auto& e2 = rig.makeClocked();
  e2.setDesired(graphOf({res("vm/other")}));
  e2.start(RunRequest{}, nullptr);
  REQUIRE(rig.impl().waitIdle());
  std::lock_guard lk(mu);
  bool listed = false;
  for (const auto& r : seen) {
    if (!r.includeOwned) {
      CHECK_FALSE(r.privateData.count("vm/clone"));
      continue;
    }
    auto it = r.privateData.find("vm/clone");
    if (it != r.privateData.end() && it->second.contains("task")) listed = true;
  }
  CHECK(listed);
}

TEST_CASE("a run started while an earlier run is still pruning waits for that prune",
          "[core][engine][continuous]") {
  ClockRig rig;
  MemoryProvider::Faults f;
  f.busyApplies["container/gone/1"] = 2;  // the delete answers "busy, retry in 3 s" twice
  f.busyAfter = 3s;
  rig.mem.setFaults(f);
  MemoryProvider::Object gone;
  gone.id = "container/gone/1";
  gone.appliedHash = "old";
  rig.mem.put(gone);
  auto& e = rig.makeClocked();
  e.setDesired(graphOf({on("container/a/1", "h1")}));
  std::promise<RunResult> first, second;
  e.start(RunRequest{}, [&](const RunResult& r) { first.set_value(r); });
  REQUIRE(rig.impl().waitIdle());
  // `reconcile --now --wait` while the first run's prune waits on a lock.
  e.start(RunRequest{}, [&](const RunResult& r) { second.set_value(r); });
  REQUIRE(rig.impl().waitIdle());
  auto f1 = first.get_future(), f2 = second.get_future();
  CHECK(f2.wait_for(0ms) == std::future_status::timeout);
  CHECK(rig.mem.get("container/gone/1").has_value());
  rig.step(3s);
  CHECK(f2.wait_for(0ms) == std::future_status::timeout);
  rig.step(3s);
  REQUIRE(f2.wait_for(1s) == std::future_status::ready);
  CHECK_FALSE(rig.mem.get("container/gone/1").has_value());
  CHECK(f2.get().result == "success");
  REQUIRE(f1.wait_for(1s) == std::future_status::ready);
  CHECK(f1.get().result == "success");
}

TEST_CASE("concurrency keys bound applies per host besides the provider limit", "[core][engine][continuous]") {
  Rig rig;
  rig.opts.workers = 8;
  rig.mem.setHostLimit(1);
  MemoryProvider::Faults f;
  f.applyDelay = 3ms;
  rig.mem.setFaults(f);
  auto& e = rig.make();
  std::vector<DesiredResource> rs;
  for (int i = 0; i < 6; ++i) {
    rs.push_back(on("container/h1/c" + std::to_string(i), "h1"));
    rs.push_back(on("container/h2/c" + std::to_string(i), "h2"));
  }
  SECTION("the provider's limit") {
    e.setDesired(graphOf(rs, true, {{"memory", 4}}));
    CHECK(e.run(RunRequest{}).result == "success");
    CHECK(rig.mem.maxConcurrentPerHost() == 1);
    CHECK(rig.mem.maxConcurrentApplies() == 2);
  }
  SECTION("reconcile.parallelism.<provider>.<class> overrides it") {
    e.setDesired(graphOf(rs, true, {{"memory", 4}, {"memory/host", 2}}));
    CHECK(e.run(RunRequest{}).result == "success");
    CHECK(rig.mem.maxConcurrentPerHost() == 2);
  }
}

TEST_CASE("cancellation reaches a provider call blocked in I/O", "[core][engine][continuous]") {
  Rig rig;
  MemoryProvider::Faults f;
  f.blockApplyIds = {"container/a/x"};
  rig.mem.setFaults(f);
  auto& e = rig.make();
  e.setDesired(graphOf({res("container/a/x")}));
  auto fut = std::async(std::launch::async, [&] { return rig.run(); });
  REQUIRE(within(5s, [&] { return rig.mem.applyCalls() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  e.cancel();
  REQUIRE(fut.wait_for(2s) == std::future_status::ready);
  CHECK(fut.get().result == "cancelled");
  CHECK(e.drain(2s));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("reconcile.call_timeout of the spec bounds that provider's calls", "[core][engine][continuous]") {
  Rig rig;
  rig.opts.callTimeout = std::chrono::minutes(10);
  rig.opts.maxAttemptsPerRun = 1;
  MemoryProvider::Faults f;
  f.blockApplyIds = {"container/a/x"};
  rig.mem.setFaults(f);
  auto& e = rig.make();
  auto g = std::make_shared<DesiredGraph>(*graphOf({res("container/a/x")}));
  g->callTimeouts["memory"] = 1s;
  e.setDesired(g);
  auto t0 = std::chrono::steady_clock::now();
  auto r = rig.run();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(r.result == "failed");
  // The engine cancels the call at its deadline, or the call sees the deadline itself first.
  const std::string msg = rig.status("container/a/x").message;
  INFO(msg);
  CHECK((msg.find("deadline") != std::string::npos || msg.find("cancelled") != std::string::npos));
}

TEST_CASE("a call past its deadline is cancelled", "[core][engine][continuous]") {
  Rig rig;
  rig.opts.callTimeout = 100ms;
  rig.opts.maxAttemptsPerRun = 1;
  MemoryProvider::Faults f;
  f.blockApplyIds = {"container/a/x"};
  rig.mem.setFaults(f);
  auto& e = rig.make();
  e.setDesired(graphOf({res("container/a/x")}));
  auto t0 = std::chrono::steady_clock::now();
  auto r = rig.run();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(r.result == "failed");
}
