// The test providers pass the same conformance suite real providers must pass.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>

#include "tests/core/engine/engine_fixture.h"
#include "tests/support/file_provider.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
using namespace tend::testing;

namespace {
// A "restarted" in-memory provider: a new instance in front of the same objects (the
// objects stand for the remote server, which a restart of tendd does not reset).
class Restarted final : public Provider {
 public:
  explicit Restarted(MemoryProvider& p) : p_(p) {}
  std::string name() const override { return p_.name(); }
  std::vector<std::string> kinds() const override { return p_.kinds(); }
  ObserveResponse observe(const ObserveRequest& r) override { return p_.observe(r); }
  PlannedAction plan(const PlanRequest& r) const override { return p_.plan(r); }
  ApplyResponse apply(const ApplyRequest& r) override { return p_.apply(r); }

 private:
  MemoryProvider& p_;
};
}  // namespace

TEST_CASE("the in-memory provider passes the provider conformance suite", "[core][conformance]") {
  MemoryProvider p;
  FakeClock clock;
  p.setClock(&clock);
  std::vector<DesiredResource> samples = {res("network/h/n"), res("container/app/c", {"network/h/n"})};
  ConformanceOptions o;
  o.createUnowned = [&](const DesiredResource& r) { p.putUnowned(r.id); };
  o.removeUnowned = [&](const DesiredResource& r) { p.erase(r.id); };
  o.changed = [](const DesiredResource& r) { return res(r.id, r.dependsOn, "2"); };
  o.restart = [&] { return std::make_unique<Restarted>(p); };
  o.progressingSample = res("vm/clone");
  o.advance = [&] { clock.advance(std::chrono::seconds(10)); };
  o.operationsStarted = [&] { return p.tasksStarted(); };
  o.makeBusy = [&](const DesiredResource& r) {
    auto f = p.faults();
    f.busyApplies[r.id] = 1;
    p.setFaults(f);
  };
  o.breakScope = [&](const DesiredResource& r) {
    auto f = p.faults();
    f.downScopes.insert(p.observeScope(r));
    p.setFaults(f);
  };
  o.restoreScope = [&](const DesiredResource&) {
    auto f = p.faults();
    f.downScopes.clear();
    p.setFaults(f);
  };
  o.blockingCall = [&](const CallContext& ctx) {
    auto r = res("container/app/blocked");
    PlannedAction a;
    a.id = r.id;
    a.kind = r.kind;
    a.action = Action::Create;
    ApplyRequest req{a, &r, nullptr, ctx};
    p.apply(req);
  };
  auto f = p.faults();
  f.taskIds["vm/clone"] = std::chrono::seconds(60);
  f.blockApplyIds = {"container/app/blocked"};
  p.setFaults(f);
  runProviderConformance(p, samples, conformanceContext(), o);
  CHECK(p.tasksStarted() == 1);
}

TEST_CASE("the file-backed provider passes the provider conformance suite", "[core][conformance]") {
  char tmpl[] = "/tmp/tend-conformance-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  {
    FileProvider p(std::string(tmpl) + "/objects");
    auto a = res("thing/a", {}, "1", "file");
    auto b = res("thing/b", {"thing/a"}, "1", "file");
    ConformanceOptions o;
    o.createUnowned = [&](const DesiredResource& r) { p.createUnowned(r.id); };
    o.removeUnowned = [&](const DesiredResource& r) { p.removeUnowned(r.id); };
    o.changed = [](const DesiredResource& r) { return res(r.id, r.dependsOn, "2", "file"); };
    o.restart = [&] { return std::make_unique<FileProvider>(std::string(tmpl) + "/objects"); };
    runProviderConformance(p, {a, b}, conformanceContext(), o);
    CHECK(p.totalObjects() == 0);
  }
  std::filesystem::remove_all(tmpl);
}
