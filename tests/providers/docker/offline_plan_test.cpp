// tendctl plan --offline plans with the providers' own plan code (core/offline_plan.h): for
// Docker that means images that left the spec are kept, a changed container is replaced, and
// volumes follow prune_volumes, exactly as GET /v1/plan would say. Only what offline knows
// differs: the recorded hash stands for what runs.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "core/offline_plan.h"
#include "providers/docker/docker_provider.h"

using namespace tend;

namespace {

DesiredResource res(const std::string& id, const std::string& provider, const std::string& hash) {
  DesiredResource r;
  r.id = id;
  r.kind = kindOfId(id);
  r.provider = provider;
  r.hash = hash;
  r.spec = {{"name", id.substr(id.rfind('/') + 1)}};
  return r;
}

ResourceRecord applied(const std::string& id, const std::string& hash) {
  ResourceRecord r;
  r.id = id;
  r.kind = kindOfId(id);
  r.lastAppliedHash = r.desiredHash = hash;
  r.phase = Phase::Ready;
  return r;
}

const PlannedAction& find(const std::vector<PlannedAction>& plan, const std::string& id) {
  for (const auto& a : plan)
    if (a.id == id) return a;
  FAIL("no plan row for " << id);
  static PlannedAction none;
  return none;
}

}  // namespace

TEST_CASE("plan --offline uses the docker provider's plan decision", "[docker][unit][offline]") {
  ProviderRegistry reg;
  reg.add(docker::registration());
  DesiredGraph g;
  g.environment = "offline";
  g.resources = {res("image/h/busybox", "docker", "i1"), res("container/app/web", "docker", "c2"),
                 res("container/app/new", "docker", "c3"), res("network/h/net", "docker", "n1"),
                 res("host/h", "none", "h2")};
  g.reindex();
  std::map<std::string, ResourceRecord> recorded;
  for (auto r : {applied("image/h/busybox", "i1"), applied("container/app/web", "c1"),
                 applied("network/h/net", "n1"), applied("host/h", "h1"),
                 applied("image/h/old", "i0"), applied("container/app/gone", "c0"),
                 applied("volume/h/data", "v0"), applied("host/old", "h0")})
    recorded.emplace(r.id, r);
  ResourceRecord never = applied("container/app/new", "");
  recorded.emplace(never.id, never);

  auto plan = planOffline(g, recorded, reg);
  REQUIRE(plan.size() == 9);
  CHECK(find(plan, "image/h/busybox").action == Action::Noop);
  CHECK(find(plan, "image/h/busybox").reason == "up to date");
  // A changed container is replaced (Docker cannot update one in place).
  CHECK(find(plan, "container/app/web").action == Action::Replace);
  CHECK(find(plan, "container/app/web").reason == "spec changed");
  CHECK(find(plan, "container/app/new").action == Action::Create);
  CHECK(find(plan, "container/app/new").reason == "never applied");
  CHECK(find(plan, "container/app/new").diff["hash"]["to"] == "c3");
  CHECK(find(plan, "network/h/net").action == Action::Noop);
  // No built provider: the common rules, worded for the recorded state.
  CHECK(find(plan, "host/h").action == Action::Update);
  CHECK(find(plan, "host/h").reason == "spec changed since last apply");
  CHECK(find(plan, "host/h").diff == nlohmann::json{{"hash", {{"from", "h1"}, {"to", "h2"}}}});
  // Left the spec: images are kept (they may be shared), containers go.
  CHECK(find(plan, "image/h/old").action == Action::Noop);
  CHECK(find(plan, "image/h/old").reason.find("images are kept") == 0);
  CHECK(find(plan, "container/app/gone").action == Action::Delete);
  CHECK(find(plan, "volume/h/data").action == Action::Delete);
  CHECK(find(plan, "volume/h/data").reason.find("volume kept") != std::string::npos);
  CHECK(find(plan, "host/old").action == Action::Delete);
  CHECK(find(plan, "host/old").reason == "no longer in the spec");

  g.prune = false;
  auto kept = planOffline(g, recorded, reg);
  CHECK(find(kept, "container/app/gone").action == Action::Noop);
  CHECK(find(kept, "container/app/gone").reason == "no longer in the spec; prune is off");
}
