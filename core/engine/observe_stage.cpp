#include "core/engine/observe_stage.h"

#include <chrono>
#include <exception>

namespace tend::engine {

namespace {
std::string joinErrors(const Diagnostics& d) {
  std::string out;
  for (const auto& x : d) {
    if (x.severity != Severity::Error) continue;
    if (!out.empty()) out += "; ";
    out += x.message;
  }
  return out;
}
}  // namespace

ObserveResponse safeObserve(Provider& p, const std::string& providerName, const ObserveRequest& req,
                            MetricsSink* metrics) {
  auto t0 = std::chrono::steady_clock::now();
  ObserveResponse resp;
  try {
    resp = p.observe(req);
  } catch (const std::exception& e) {
    resp = ObserveResponse{};
    resp.scopeError = makeError(std::string("observe failed: ") + e.what());
  }
  if (!resp.scopeError && hasErrors(resp.diagnostics) && resp.observed.empty() && resp.errors.empty())
    resp.scopeError = makeError(joinErrors(resp.diagnostics));
  if (resp.scopeError) {
    for (const auto* d : req.desired)
      if (d) resp.errors[d->id] = *resp.scopeError;
  }
  bool ok = resp.errors.empty() && !hasErrors(resp.diagnostics) && !resp.scopeError;
  if (metrics)
    metrics->providerRequest(providerName, ok ? "ok" : "error",
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return resp;
}

void ObserveBatcher::add(const BatchKey& k, Provider* p, const std::string& id) {
  auto& b = pending_[k];
  b.provider = p;
  b.ids.push_back(id);
}

void ObserveBatcher::wantListing(const BatchKey& k, Provider* p, int64_t runId) {
  auto& b = pending_[k];
  b.provider = p;
  b.includeOwned = true;
  b.listFor.push_back(runId);
}

std::vector<std::pair<BatchKey, Batch>> ObserveBatcher::takeReady(
    const std::function<bool(const BatchKey&, const Batch&)>& hold) {
  std::vector<std::pair<BatchKey, Batch>> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (inFlight_.count(it->first) || (hold && hold(it->first, it->second))) {
      ++it;
      continue;
    }
    inFlight_[it->first]++;
    out.emplace_back(it->first, std::move(it->second));
    it = pending_.erase(it);
  }
  return out;
}

void ObserveBatcher::finished(const BatchKey& k) {
  auto it = inFlight_.find(k);
  if (it != inFlight_.end() && --it->second <= 0) inFlight_.erase(it);
}

}  // namespace tend::engine
