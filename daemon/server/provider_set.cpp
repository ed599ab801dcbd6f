#include "daemon/server/provider_set.h"

#include <filesystem>

#include "core/log.h"

namespace tend::daemon {
namespace {

class UnavailableProvider final : public Provider {
 public:
  UnavailableProvider(std::string name, std::string reason)
      : name_(std::move(name)), reason_(std::move(reason)) {}
  std::string name() const override { return name_; }
  std::vector<std::string> kinds() const override { return {}; }
  ObserveResponse observe(const ObserveRequest& req) override {
    ObserveResponse out;
    for (const auto* d : req.desired)
      if (d) out.errors[d->id] = makeError(reason_, true);
    return out;
  }
  PlannedAction plan(const PlanRequest& req) const override {
    PlannedAction a;
    if (req.desired) {
      a.id = req.desired->id;
      a.kind = req.desired->kind;
    }
    a.reason = reason_;
    return a;
  }
  ApplyResponse apply(const ApplyRequest&) override {
    ApplyResponse r;
    r.outcome = Outcome::Failed;
    r.terminal = true;
    r.message = reason_;
    return r;
  }

 private:
  std::string name_, reason_;
};

}  // namespace

std::unique_ptr<Provider> makeUnavailableProvider(std::string name, std::string reason) {
  return std::make_unique<UnavailableProvider>(std::move(name), std::move(reason));
}

ProviderSet::ProviderSet(const ProviderRegistry& registry, std::string stateDir, HostSessions* hostSessions)
    : registry_(registry), stateDir_(std::move(stateDir)), hostSessions_(hostSessions) {}

void ProviderSet::update(const DesiredGraph& g) {
  std::lock_guard lk(mu_);
  const bool contextChanged = g.specDir != specDir_ || g.environment != environment_;
  specDir_ = g.specDir;
  environment_ = g.environment;
  // Providers used by resources but without a `providers:` entry get an empty config.
  std::map<std::string, nlohmann::json> wanted = g.providerConfigs;
  for (const auto& r : g.resources)
    if (!r.provider.empty() && !wanted.count(r.provider) && registry_.built(r.provider))
      wanted[r.provider] = nlohmann::json::object();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!wanted.count(it->first)) it = entries_.erase(it);
    else ++it;
  }
  for (const auto& [name, cfg] : wanted) {
    auto it = entries_.find(name);
    int par = g.parallelism.count(name) ? g.parallelism.at(name) : 0;
    if (it != entries_.end() && it->second.config == cfg && it->second.parallelism == par && !contextChanged)
      continue;
    std::string dir = (std::filesystem::path(stateDir_) / "providers" / name).string();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    // The spec's reconcile.parallelism.<name> rides along under a reserved key: a provider whose
    // operations outlive an apply call (Proxmox tasks) limits how many run at once with it.
    nlohmann::json withPar = cfg;
    if (par > 0 && withPar.is_object()) withPar["_reconcile_parallelism"] = par;
    auto made = registry_.create(name, ProviderConfig{withPar, g.specDir, dir, g.environment, hostSessions_});
    Entry e{cfg, nullptr, par};
    if (made.ok()) {
      e.provider = std::move(made).value();
      log::info(it == entries_.end() ? "provider ready" : "provider rebuilt (config changed)",
                {{"provider", name}});
    } else {
      log::error("provider unavailable", {{"provider", name}, {"error", made.error().message}});
      e.provider = makeUnavailableProvider(name, "provider " + name + " unavailable: " + made.error().message);
    }
    entries_[name] = std::move(e);
  }
}

void ProviderSet::prefetch(const DesiredGraph& g) {
  std::map<std::string, std::vector<const DesiredResource*>> byProvider;
  for (const auto& r : g.resources)
    if (!r.provider.empty()) byProvider[r.provider].push_back(&r);
  std::vector<std::pair<std::shared_ptr<Provider>, std::vector<const DesiredResource*>>> calls;
  {
    std::lock_guard lk(mu_);
    for (auto& [name, rs] : byProvider) {
      auto it = entries_.find(name);
      if (it != entries_.end() && it->second.provider) calls.emplace_back(it->second.provider, std::move(rs));
    }
  }
  for (auto& [p, rs] : calls) p->prefetch(rs);
}

Provider* ProviderSet::get(const std::string& name) { return getShared(name).get(); }

std::shared_ptr<Provider> ProviderSet::getShared(const std::string& name) {
  std::lock_guard lk(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    Entry e{nlohmann::json::object(),
            makeUnavailableProvider(name, "provider '" + name + "' is not configured in this spec")};
    it = entries_.emplace(name, std::move(e)).first;
  }
  return it->second.provider;
}

}  // namespace tend::daemon
