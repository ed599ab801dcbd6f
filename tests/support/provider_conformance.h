#pragma once
// The provider conformance suite: what every Provider must do for the engine to be correct.
// Call it from a TEST_CASE of your provider's tests, after starting whatever it talks to:
//
//   #include "tests/support/provider_conformance.h"
//   TEST_CASE("docker provider passes the conformance suite", "[docker][conformance]") {
//     auto p = makeDockerProviderForTest(...);            // talks to a loopback dockerd
//     std::vector<tend::DesiredResource> samples = {aNetwork, aVolume, aContainer};
//     tend::testing::ConformanceOptions o;
//     o.createUnowned = [&](const tend::DesiredResource& r) { /* docker create w/o labels */ };
//     o.removeUnowned = [&](const tend::DesiredResource& r) { /* docker rm -f */ };
//     o.changed = [](tend::DesiredResource r) { r.spec["labels"]["x"] = "y"; r.hash = rehash(r); return r; };
//     tend::testing::runProviderConformance(*p, samples, tend::testing::conformanceContext(), o);
//   }
//
// Samples are applied in the order given (put dependencies first: network before container)
// and deleted in reverse order at the end. Each sample's id must not exist before the test
// (an owned leftover from an earlier run is deleted first; an unowned one fails the test).
// Checks use CHECK/REQUIRE with INFO naming the sample and step, in plain sequence (no
// SECTIONs, so expensive setup in the caller's TEST_CASE runs once):
//   1. plan on an absent object → create, no conflict; plan is pure (same inputs, same plan)
//   2. apply(create) does not fail; observe → exists, owned, appliedHash == hash, and when the
//      apply returned Ok, ready == true (the engine waits on ready == false); plan → noop.
//      A Progressing apply is followed as the engine follows it: observe, plan, and while the
//      plan still wants a change, apply again with the private data handed back
//   3. apply(create) again is idempotent: not failed, still one object, plan → noop
//   4. observe with no desired and includeOwned → the object is reported, owned (prune input)
//   5. optional `changed`: plan → update/replace; apply; observe → appliedHash == new hash
//   6. delete (reverse order): plan(desired=null, observed) → delete; apply (a Progressing
//      delete is observed and applied again, as prune does, until Ok); observe → absent
//   7. delete of an absent object succeeds
//   8. optional `createUnowned`: an unmarked object holding the name → observe owned == false,
//      plan → conflict; apply of that plan fails (terminal) and leaves the object unowned;
//      prune never lists it (includeOwned does not report it as owned)
//   9. optional `restart`: private data round trip across a restart: the private data apply
//      returned, handed to a fresh instance (as after a tendd restart) in observe, plan and
//      apply, gives the same observation, a noop plan and an idempotent apply
//  10. optional `progressingSample`: progressing across passes: its create answers
//      Progressing with requeueAfter and private data; pass after pass (plan + apply with the
//      private data handed back, a restart in the middle when `restart` is set, `advance`
//      between passes) it stays Progressing, never Failed, until Ok; `operationsStarted`
//      (when set) stays 1: the task is followed, never started twice
//  11. optional `makeBusy`: apply meets a lock held elsewhere → Busy with requeueAfter > 0,
//      not Failed, nothing changed; after `clearBusy` the apply succeeds
//  12. optional `breakScope`: the sample's host is unreachable → observe answers one
//      scopeError (or the same error for every id), non-empty; after `restoreScope` it works
//  13. optional `blockingCall`: a call blocked in I/O returns within 2 s of its cancellation
//      (ctx.cancel), long before its deadline
// A provider for which an optional obligation cannot arise says so in its test (WARN).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/provider.h"

namespace tend::testing {

struct ConformanceOptions {
  std::function<void(const DesiredResource&)> createUnowned;  // optional
  std::function<void(const DesiredResource&)> removeUnowned;  // optional, cleanup after (8)
  std::function<DesiredResource(const DesiredResource&)> changed;  // optional: a changed spec
  std::function<std::unique_ptr<Provider>()> restart;               // (9), (10)
  std::optional<DesiredResource> progressingSample;                 // (10)
  std::function<void()> advance;                                    // (10) between passes
  std::function<int()> operationsStarted;                           // (10)
  int maxPasses = 50;                                               // (10)
  std::function<void(const DesiredResource&)> makeBusy, clearBusy;  // (11)
  std::function<void(const DesiredResource&)> breakScope, restoreScope;  // (12)
  std::function<void(const CallContext&)> blockingCall;            // (13)
  // Progressing applies are re-observed up to this many times (waiting pollInterval between).
  int maxPolls = 30;
  std::chrono::milliseconds pollInterval{500};
};

// A context with a 2-minute deadline, no secrets, environment "conformance".
CallContext conformanceContext();

void runProviderConformance(Provider& p, const std::vector<DesiredResource>& samples,
                            CallContext ctx, ConformanceOptions opts = {});

}  // namespace tend::testing
