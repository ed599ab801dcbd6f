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
//      apply returned Ok, ready == true (the engine waits on ready == false); plan → noop
//   3. apply(create) again is idempotent: not failed, still one object, plan → noop
//   4. observe with no desired and includeOwned → the object is reported, owned (prune input)
//   5. optional `changed`: plan → update/replace; apply; observe → appliedHash == new hash
//   6. delete (reverse order): plan(desired=null, observed) → delete; apply; observe → absent
//   7. delete of an absent object succeeds
//   8. optional `createUnowned`: an unmarked object holding the name → observe owned == false,
//      plan → conflict; apply of that plan fails (terminal) and leaves the object unowned;
//      prune never lists it (includeOwned does not report it as owned)
#include <functional>
#include <string>
#include <vector>

#include "core/provider.h"

namespace tend::testing {

struct ConformanceOptions {
  std::function<void(const DesiredResource&)> createUnowned;  // optional
  std::function<void(const DesiredResource&)> removeUnowned;  // optional, cleanup after (8)
  std::function<DesiredResource(const DesiredResource&)> changed;  // optional: a changed spec
  // Progressing applies are re-observed up to this many times (waiting pollInterval between).
  int maxPolls = 30;
  std::chrono::milliseconds pollInterval{500};
};

// A context with a 2-minute deadline, no secrets, environment "conformance".
CallContext conformanceContext();

void runProviderConformance(Provider& p, const std::vector<DesiredResource>& samples,
                            CallContext ctx, ConformanceOptions opts = {});

}  // namespace tend::testing
