#include "core/engine/schedule_stage.h"

#include <algorithm>

namespace tend::engine {

DepVerdict dependencyVerdict(const std::vector<DepView>& deps) {
  const DepView* firstBlocked = nullptr;
  const DepView* firstBad = nullptr;
  for (const auto& d : deps) {
    if (d.known && d.ready) continue;
    if (d.known && d.active) return {DepVerdict::Wait, std::string(d.id)};
    if (d.known && d.blocked) {
      if (!firstBlocked) firstBlocked = &d;
    } else if (!firstBad) {
      firstBad = &d;
    }
  }
  if (firstBad) return {DepVerdict::Blocked, std::string(firstBad->id)};
  if (firstBlocked)
    return {DepVerdict::Blocked, std::string(firstBlocked->root.empty() ? firstBlocked->id : firstBlocked->root)};
  return {DepVerdict::Go, ""};
}

std::vector<ConcurrencyKey> effectiveKeys(const std::string& providerName, int providerLimit,
                                          std::vector<ConcurrencyKey> providerKeys,
                                          const std::map<std::string, int>& parallelism) {
  std::vector<ConcurrencyKey> out;
  out.reserve(providerKeys.size() + 1);
  out.push_back(ConcurrencyKey{"provider:" + providerName, std::max(1, providerLimit)});
  for (auto& k : providerKeys) {
    std::string cls = k.name.substr(0, k.name.find('/'));
    if (auto it = parallelism.find(providerName + "/" + cls); it != parallelism.end()) k.limit = it->second;
    k.limit = std::max(1, k.limit);
    // Keys are per provider: two providers may both name "host/web1" and limit it apart.
    k.name = providerName + ":" + k.name;
    out.push_back(std::move(k));
  }
  return out;
}

bool ConcurrencyLimiter::tryAcquire(const std::vector<ConcurrencyKey>& keys) {
  for (const auto& k : keys) {
    auto it = used_.find(k.name);
    if (it != used_.end() && it->second >= k.limit) return false;
  }
  for (const auto& k : keys) used_[k.name]++;
  return true;
}

void ConcurrencyLimiter::release(const std::vector<ConcurrencyKey>& keys) {
  for (const auto& k : keys) {
    auto it = used_.find(k.name);
    if (it == used_.end()) continue;
    if (--it->second <= 0) used_.erase(it);
  }
}

int ConcurrencyLimiter::inUse(const std::string& name) const {
  auto it = used_.find(name);
  return it == used_.end() ? 0 : it->second;
}

}  // namespace tend::engine
