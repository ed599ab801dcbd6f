#pragma once
// Prometheus series of CONTRACT.md, backed by prometheus-cpp core and rendered as text by our
// own HTTP server (no prometheus-cpp pull). Every series exists from construction.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics_sink.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace tend::daemon {

class Metrics final : public MetricsSink {
 public:
  // providers: every registered provider name, so tend_provider_requests_total{provider,outcome}
  // exists at 0 for each of them before the first request.
  explicit Metrics(const std::vector<std::string>& providers);
  ~Metrics() override;

  // MetricsSink (called by the engine from its workers).
  void runFinished(const std::string& result, double seconds) override;
  void driftCorrected(const std::string& kind) override;
  void providerRequest(const std::string& provider, const std::string& outcome,
                       double seconds) override;
  void workqueueDepth(size_t depth) override;
  void resourceCounts(const std::map<std::pair<std::string, std::string>, int>& byKindPhase) override;
  void lastSuccess(double unixSeconds) override;

  // Daemon-side facts.
  void specLoadError();
  void specRevision(const std::string& revision);

  // Text exposition 0.0.4. Cached until any series changes (cheap for frequent scrapes), but
  // the process_* gauges are refreshed at most every 200 ms.
  std::string render();

 private:
  void touch() { generation_.fetch_add(1, std::memory_order_relaxed); }
  void refreshProcess();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* runs_;
  prometheus::Histogram* runDuration_;
  prometheus::Family<prometheus::Gauge>* resources_;
  prometheus::Family<prometheus::Counter>* drift_;
  prometheus::Family<prometheus::Counter>* providerRequests_;
  prometheus::Family<prometheus::Histogram>* providerDuration_;
  prometheus::Family<prometheus::Gauge>* revisionInfo_;
  prometheus::Counter* specErrors_;
  prometheus::Gauge* lastSuccess_;
  prometheus::Gauge* queueDepth_;
  prometheus::Gauge* rss_;
  prometheus::Gauge* startTime_;
  prometheus::Gauge* openFds_;

  std::mutex mu_;  // guards revision/resource bookkeeping and the cache
  prometheus::Gauge* revisionSeries_ = nullptr;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> resourceSeries_;
  std::atomic<uint64_t> generation_{1};
  uint64_t cachedGeneration_ = 0;
  int64_t cachedAtMs_ = 0;
  std::string cached_;
};

// /proc readers (exposed for tests).
double processResidentBytes();
double processStartTimeSeconds();

}  // namespace tend::daemon
