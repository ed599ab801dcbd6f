#include "core/offline_plan.h"

#include <memory>

#include "core/provider_plan.h"

namespace tend {

namespace {

// Built providers for this plan, made on first use; null when not built here (or unbuildable
// from this config: the common rules still say what would happen).
class Planners {
 public:
  Planners(const DesiredGraph& g, const ProviderRegistry& r) : g_(g), r_(r) {}
  const Provider* get(const std::string& name) {
    auto it = made_.find(name);
    if (it != made_.end()) return it->second.get();
    std::unique_ptr<Provider> p;
    if (r_.built(name)) {
      auto pc = g_.providerConfigs.find(name);
      ProviderConfig cfg{pc == g_.providerConfigs.end() ? nlohmann::json::object() : pc->second, g_.specDir, "",
                         g_.environment, nullptr};
      auto made = r_.create(name, cfg);
      if (made.ok()) p = std::move(made).value();
    }
    return made_.emplace(name, std::move(p)).first->second.get();
  }

 private:
  const DesiredGraph& g_;
  const ProviderRegistry& r_;
  std::map<std::string, std::unique_ptr<Provider>> made_;
};

// What the state knows of an applied object.
ObservedResource fromRecord(const ResourceRecord& rec) {
  ObservedResource o;
  o.id = rec.id;
  o.exists = true;
  o.owned = true;
  o.appliedHash = rec.lastAppliedHash;
  o.ready = rec.phase == Phase::Ready;
  o.message = rec.message;
  o.state = nlohmann::json::object();
  return o;
}

PlannedAction planWith(const Provider* p, const PlanRequest& req, const PlanWords& words) {
  if (p) return p->plan(req);
  return startPlan(req, words).action;
}

}  // namespace

std::vector<PlannedAction> planOffline(const DesiredGraph& g, const std::map<std::string, ResourceRecord>& recorded,
                                       const ProviderRegistry& providers) {
  Planners planners(g, providers);
  PlanWords words;
  words.specChanged = "spec changed since last apply";
  words.leftSpec = "no longer in the spec";
  std::vector<PlannedAction> out;
  out.reserve(g.resources.size());
  for (const auto& res : g.resources) {
    auto it = recorded.find(res.id);
    const bool applied = it != recorded.end() && !it->second.lastAppliedHash.empty();
    if (applied && it->second.lastAppliedHash == res.hash) {
      PlannedAction a;
      a.id = res.id;
      a.kind = res.kind;
      a.reason = "up to date";
      out.push_back(std::move(a));
      continue;
    }
    ObservedResource o;
    if (applied) o = fromRecord(it->second);
    PlannedAction a = planWith(planners.get(res.provider), {&res, applied ? &o : nullptr}, words);
    a.id = res.id;
    a.kind = res.kind;
    if (!applied && a.action == Action::Create) {
      // All the state says: it was never recorded, or never applied.
      a.reason = it == recorded.end() ? "not in recorded state" : "never applied";
      if (a.diff.is_null()) a.diff = {{"hash", {{"from", nullptr}, {"to", res.hash}}}};
    }
    out.push_back(std::move(a));
  }
  for (const auto& [id, rec] : recorded) {
    if (g.find(id)) continue;
    PlannedAction a;
    if (!g.prune) {
      a.id = id;
      a.kind = kindOfId(id);
      a.reason = "no longer in the spec; prune is off";
    } else {
      ObservedResource o = fromRecord(rec);
      const std::string kind = rec.kind.empty() ? kindOfId(id) : rec.kind;
      a = planWith(planners.get(providers.providerOfKind(kind)), {nullptr, &o}, words);
      a.id = id;
      a.kind = kind;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace tend
