#include "daemon/server/metrics.h"

#include <unistd.h>

#include <chrono>
#include <dirent.h>
#include <fstream>
#include <sstream>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace tend::daemon {
namespace {

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* kRunResults[] = {"success", "failed", "partial", "cancelled"};
const char* kPhases[] = {"pending", "blocked", "progressing", "ready", "failed", "deleting"};
// Kinds known at start-up so tend_resources{kind,phase} exists before the first spec loads.
const char* kKinds[] = {"vm", "host", "container", "network", "volume", "image", "zone",
                        "template", "dnsconf"};

double readBootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double v = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int countOpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
    n -= 3;  // ".", ".." and the directory's own fd
  }
  return n < 0 ? 0 : n;
}

}  // namespace

double processResidentBytes() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double processStartTimeSeconds() {
  std::ifstream in("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may contain spaces: parse after the last ')'.
  auto p = all.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream rest(all.substr(p + 2));
  std::string field;
  // After comm, fields start at 3 (state); starttime is field 22.
  for (int i = 3; i < 22 && rest >> field; ++i) {
  }
  unsigned long long ticks = 0;
  rest >> ticks;
  return readBootTimeSeconds() + static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Metrics::Metrics(const std::vector<std::string>& providers)
    : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  runs_ = &BuildCounter()
               .Name("tend_reconcile_runs_total")
               .Help("Reconcile passes by result.")
               .Register(*registry_);
  for (const char* r : kRunResults) runs_->Add({{"result", r}});
  runDuration_ = &BuildHistogram()
                      .Name("tend_reconcile_duration_seconds")
                      .Help("Duration of reconcile passes.")
                      .Register(*registry_)
                      .Add({}, Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                                           30, 60, 120, 300, 600});
  resources_ = &BuildGauge()
                    .Name("tend_resources")
                    .Help("Resources of the applied spec by kind and phase.")
                    .Register(*registry_);
  for (const char* k : kKinds)
    for (const char* p : kPhases) resourceSeries_[{k, p}] = &resources_->Add({{"kind", k}, {"phase", p}});
  drift_ = &BuildCounter()
                .Name("tend_drift_corrections_total")
                .Help("Owned objects found different from the spec and corrected, by kind.")
                .Register(*registry_);
  for (const char* k : kKinds) drift_->Add({{"kind", k}});
  providerRequests_ = &BuildCounter()
                           .Name("tend_provider_requests_total")
                           .Help("Provider calls (observe/apply) by provider and outcome.")
                           .Register(*registry_);
  providerDuration_ = &BuildHistogram()
                           .Name("tend_provider_request_duration_seconds")
                           .Help("Duration of provider calls.")
                           .Register(*registry_);
  for (const auto& p : providers) {
    providerRequests_->Add({{"provider", p}, {"outcome", "ok"}});
    providerRequests_->Add({{"provider", p}, {"outcome", "error"}});
    providerDuration_->Add({{"provider", p}},
                           Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5,
                                                       10, 30, 60});
  }
  revisionInfo_ = &BuildGauge()
                       .Name("tend_spec_revision_info")
                       .Help("The applied spec revision (value 1).")
                       .Register(*registry_);
  revisionSeries_ = &revisionInfo_->Add({{"revision", "none"}});
  revisionSeries_->Set(1);
  specErrors_ = &BuildCounter()
                     .Name("tend_spec_load_errors_total")
                     .Help("Spec loads that failed validation (the last good spec stays applied).")
                     .Register(*registry_)
                     .Add({});
  lastSuccess_ = &BuildGauge()
                      .Name("tend_last_success_timestamp_seconds")
                      .Help("Unix time of the last pass that ended with every resource ready.")
                      .Register(*registry_)
                      .Add({});
  queueDepth_ = &BuildGauge()
                     .Name("tend_workqueue_depth")
                     .Help("Resource ids waiting in the work queue.")
                     .Register(*registry_)
                     .Add({});
  rss_ = &BuildGauge()
              .Name("process_resident_memory_bytes")
              .Help("Resident memory size in bytes.")
              .Register(*registry_)
              .Add({});
  startTime_ = &BuildGauge()
                    .Name("process_start_time_seconds")
                    .Help("Start time of the process since unix epoch in seconds.")
                    .Register(*registry_)
                    .Add({});
  openFds_ = &BuildGauge()
                  .Name("process_open_fds")
                  .Help("Number of open file descriptors.")
                  .Register(*registry_)
                  .Add({});
  startTime_->Set(processStartTimeSeconds());
  refreshProcess();
}

Metrics::~Metrics() = default;

void Metrics::runFinished(const std::string& result, double seconds) {
  runs_->Add({{"result", result}}).Increment();
  runDuration_->Observe(seconds);
  touch();
}

void Metrics::driftCorrected(const std::string& kind) {
  drift_->Add({{"kind", kind}}).Increment();
  touch();
}

void Metrics::providerRequest(const std::string& provider, const std::string& outcome,
                              double seconds) {
  if (!providerRequests_->Has({{"provider", provider}, {"outcome", "ok"}})) {
    providerRequests_->Add({{"provider", provider}, {"outcome", "ok"}});
    providerRequests_->Add({{"provider", provider}, {"outcome", "error"}});
  }
  providerRequests_->Add({{"provider", provider}, {"outcome", outcome}}).Increment();
  providerDuration_
      ->Add({{"provider", provider}},
            prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10,
                                                    30, 60})
      .Observe(seconds);
  touch();
}

void Metrics::workqueueDepth(size_t depth) {
  queueDepth_->Set(static_cast<double>(depth));
  touch();
}

void Metrics::resourceCounts(const std::map<std::pair<std::string, std::string>, int>& byKindPhase) {
  std::lock_guard lk(mu_);
  for (auto& [key, g] : resourceSeries_) g->Set(0);
  for (const auto& [key, n] : byKindPhase) {
    auto it = resourceSeries_.find(key);
    if (it == resourceSeries_.end()) {
      // A new kind: give it every phase so queries see zeros, not gaps.
      for (const char* p : kPhases)
        resourceSeries_[{key.first, p}] = &resources_->Add({{"kind", key.first}, {"phase", p}});
      it = resourceSeries_.find(key);
      if (it == resourceSeries_.end())
        it = resourceSeries_.emplace(key, &resources_->Add({{"kind", key.first}, {"phase", key.second}})).first;
    }
    it->second->Set(n);
  }
  touch();
}

void Metrics::lastSuccess(double unixSeconds) {
  lastSuccess_->Set(unixSeconds);
  touch();
}

void Metrics::specLoadError() {
  specErrors_->Increment();
  touch();
}

void Metrics::specRevision(const std::string& revision) {
  std::lock_guard lk(mu_);
  if (revisionInfo_->Has({{"revision", revision}})) return;
  revisionInfo_->Remove(revisionSeries_);
  revisionSeries_ = &revisionInfo_->Add({{"revision", revision}});
  revisionSeries_->Set(1);
  touch();
}

void Metrics::refreshProcess() {
  rss_->Set(processResidentBytes());
  openFds_->Set(countOpenFds());
}

std::string Metrics::render() {
  std::lock_guard lk(mu_);
  const int64_t now = nowMs();
  const uint64_t gen = generation_.load(std::memory_order_relaxed);
  if (gen == cachedGeneration_ && now - cachedAtMs_ < 200 && !cached_.empty()) return cached_;
  refreshProcess();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  cached_ = out.str();
  cachedGeneration_ = gen;
  cachedAtMs_ = now;
  return cached_;
}

}  // namespace tend::daemon
