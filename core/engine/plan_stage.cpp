#include "core/engine/plan_stage.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "core/engine/apply_stage.h"
#include "core/engine/observe_stage.h"
#include "core/engine/prune_stage.h"

namespace tend::engine {

const char* const kNoHostMessage = "no host configuration (no ssh provider configured)";

std::vector<PlanEntry> planStage(const PlanStageInput& in) {
  const auto& graph = *in.graph;
  std::unordered_set<std::string> want(in.ids.begin(), in.ids.end());
  bool full = in.ids.empty();
  std::vector<const DesiredResource*> sel;
  for (const auto& r : graph.resources)
    if (full || want.count(r.id)) sel.push_back(&r);

  std::map<std::string, Provider*> providers;
  std::map<BatchKey, ObserveRequest> reqs;
  for (const auto* r : sel) {
    if (r->provider == "none") continue;
    auto [pit, fresh] = providers.emplace(r->provider, nullptr);
    if (fresh) pit->second = in.providerFor(r->provider);
    if (!pit->second) continue;
    BatchKey k{r->provider, pit->second->observeScope(*r)};
    auto& req = reqs[k];
    req.desired.push_back(r);
    req.scope = k.scope;
    if (in.privateData) {
      auto pd = in.privateData(r->id);
      if (!pd.is_null()) req.privateData[r->id] = std::move(pd);
    }
  }
  // Short-lived threads, one per scope: plan is called from request handlers and must not
  // queue behind applies on the engine's pool.
  std::map<BatchKey, ObserveResponse> resps;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (auto& [k, req] : reqs) {
    req.includeOwned = full;
    req.ctx = in.ctx;
    threads.emplace_back([&, k = k, p = providers[k.provider], req = &req] {
      auto resp = safeObserve(*p, k.provider, *req, in.metrics);
      std::lock_guard lk(mu);
      resps[k] = std::move(resp);
    });
  }
  for (auto& t : threads) t.join();

  std::vector<PlanEntry> out;
  out.reserve(sel.size());
  for (const auto* r : sel) {
    PlanEntry e;
    e.action.id = r->id;
    e.action.kind = r->kind;
    if (r->provider == "none") {
      e.action.reason = kNoHostMessage;
      out.push_back(std::move(e));
      continue;
    }
    Provider* p = providers[r->provider];
    if (!p) {
      e.error = "provider '" + r->provider + "' is not built into this tend";
      e.action.reason = "failed: " + *e.error;
      out.push_back(std::move(e));
      continue;
    }
    auto& resp = resps[BatchKey{r->provider, p->observeScope(*r)}];
    if (auto er = resp.errors.find(r->id); er != resp.errors.end()) {
      e.error = redact(er->second.message);
      e.action.reason = "failed: " + *e.error;
      out.push_back(std::move(e));
      continue;
    }
    auto o = resp.observed.find(r->id);
    nlohmann::json pd = in.privateData ? in.privateData(r->id) : nlohmann::json();
    auto pa = safePlan(*p, r, o == resp.observed.end() ? nullptr : &o->second, &pd);
    if (!pa) {
      e.error = redact(pa.error().message);
      e.action.reason = "failed: " + *e.error;
      out.push_back(std::move(e));
      continue;
    }
    pa->reason = redact(pa->reason);
    e.action = std::move(*pa);
    out.push_back(std::move(e));
  }
  if (full && graph.prune) {
    std::vector<PlanEntry> deletes;
    for (auto& [k, resp] : resps) {
      Provider* p = providers[k.provider];
      std::set<std::string> kinds;
      for (auto& kd : p->kinds()) kinds.insert(kd);
      for (auto& c : pruneCandidates(resp.observed, kinds, graph, k.provider)) {
        nlohmann::json pd = in.privateData ? in.privateData(c.id) : nlohmann::json();
        auto pa = safePlan(*p, nullptr, &c.observed, &pd);
        if (pa && pa->action != Action::Noop) {
          PlanEntry e;
          e.action = std::move(*pa);
          e.prune = true;
          deletes.push_back(std::move(e));
        }
      }
    }
    std::stable_sort(deletes.begin(), deletes.end(), [&](const PlanEntry& a, const PlanEntry& b) {
      return pruneRank(in.pruneRank, kindOfId(a.action.id)) < pruneRank(in.pruneRank, kindOfId(b.action.id));
    });
    for (auto& d : deletes) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace tend::engine
