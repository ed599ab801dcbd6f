#pragma once
// The daemon's reconcile side: the applied spec (last good), the engine, providers and secrets
// built from it, and the run queue that serialises reloads and passes. The HTTP API reads it
// through ApiBackend; triggers only enqueue jobs.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/spec.h"
#include "core/state_store.h"
#include "daemon/server/api.h"
#include "daemon/server/metrics.h"
#include "daemon/server/provider_set.h"
#include "daemon/server/run_queue.h"
#include "daemon/server/secrets_holder.h"
#include "daemon/server/spec_source.h"
#include "daemon/server/state_tap.h"

namespace tend::daemon {

using SpecLoader = std::function<LoadResult(const std::string& dir, const LoadOptions& opts)>;
using EngineFactory = std::function<std::unique_ptr<Engine>(EngineDeps, EngineOptions)>;

struct ControllerDeps {
  StateStore* state = nullptr;  // outlives the controller
  Metrics* metrics = nullptr;
  const ProviderRegistry* registry = nullptr;
  HostSessions* hostSessions = nullptr;  // the daemon's connections to machines (may be null)
  SpecSource* source = nullptr;
  SpecLoader loader;
  EngineFactory engineFactory;
  SecretsOpener secretsOpener;  // may be empty: no secrets support
};

struct ControllerOptions {
  std::string stateDir;
  std::string ageKeyFile;
  bool dryRun = false;
  EngineOptions engine;  // environment is filled from the spec
};

class Controller final : public ApiBackend {
 public:
  Controller(ControllerDeps deps, ControllerOptions opts);
  ~Controller() override;

  void start();  // starts the runner thread
  // Called on the runner thread after a load attempt (first: the very first one) and when a new
  // spec is applied (interval changes, READY=1).
  std::function<void(bool first)> onLoadAttempt;
  std::function<void(const DesiredGraph&)> onApplied;

  // Shutdown, stage by stage: stop taking jobs, cancel the pass in flight, wait (bounded).
  void stopIntake();
  void cancelInFlight();
  bool join(std::chrono::milliseconds timeout);

  // --once: load, run one full run and wait until it ends.
  JobOutcome runOnce();

  int intervalSeconds() const;
  bool hasValidSpec() const;
  // The first error of the latest load attempt ("" when it was valid).
  std::string specError() const;

  // ApiBackend
  bool ready(std::string& why) const override;
  std::string metricsText() override;
  std::shared_ptr<const StatusBody> statusBody() override;
  std::shared_ptr<const StatusBody> currentStatusBody() override;
  Result<nlohmann::json> planJson() override;
  Result<nlohmann::json> eventsJson(int64_t since, int limit) override;
  std::vector<std::string> unknownResources(const std::vector<std::string>& ids) const override;
  bool followsGit() const override;
  void submit(Job job) override;
  uint64_t changeGeneration() const override { return tap_.generation() * 1000003u + localGen_.load(); }
  StatusView statusView() override;
  Result<nlohmann::json> resourceDetail(const std::string& id, bool withPlan) override;
  Result<nlohmann::json> runsJson(int limit) override;
  Result<nlohmann::json> explainJson(const std::string& what) override;
  Result<nlohmann::json> recentEventsJson(const std::string& resource, int limit) override;

 private:
  void execute(Job& job);
  bool reloadSpec(bool fetch, const std::string& trigger);  // true: a new spec was applied
  void applyGraph(const DesiredGraphPtr& g);
  void recordSpecError(const std::vector<std::string>& lines);
  void refreshResourceMetrics();
  std::string renderStatus();
  void event(const std::string& level, const std::string& reason, const std::string& message);

  ControllerDeps deps_;
  ControllerOptions opts_;
  StateTap tap_;
  ProviderSet providers_;
  SecretsHolder secrets_;
  RunQueue queue_;

  std::shared_mutex engineMu_;  // exclusive: provider/spec swap
  std::unique_ptr<Engine> engine_;
  std::atomic<Engine*> enginePtr_{nullptr};

  mutable std::mutex mu_;
  DesiredGraphPtr graph_;
  // The last valid load's model and graph, for explain (FILE:LINE of every value).
  std::shared_ptr<const Spec> explainSpec_;
  DesiredGraphPtr explainGraph_;
  std::string fingerprint_;
  std::vector<std::string> specErrors_;
  std::optional<RunRecord> lastRun_;
  std::vector<ResourceRecord> recorded_;  // resources in state, shown before a spec is applied
  std::string lastGoodRevision_;
  bool firstPassDone_ = false;
  bool loadedOnce_ = false;
  std::vector<Waiter>* currentWaiters_ = nullptr;  // told the run id by the store tap
  std::atomic<uint64_t> localGen_{1};

  std::mutex cacheMu_;
  std::mutex renderMu_;  // held while rendering the status (before cacheMu_)
  std::shared_ptr<const StatusBody> statusCache_;
  uint64_t statusCacheKey_ = 0;
  std::chrono::steady_clock::time_point statusCachedAt_{};
};

}  // namespace tend::daemon
