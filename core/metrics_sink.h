#pragma once
// The engine reports what happened; the daemon turns it into Prometheus series
// (daemon/metrics.cpp). core/ stays free of prometheus-cpp.
#include <map>
#include <string>

namespace tend {

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual void runFinished(const std::string& result, double seconds) {}
  virtual void driftCorrected(const std::string& kind) {}
  virtual void providerRequest(const std::string& provider, const std::string& outcome,
                               double seconds) {}
  virtual void workqueueDepth(size_t depth) {}
  // Full replacement of the tend_resources{kind,phase} gauge family.
  virtual void resourceCounts(const std::map<std::pair<std::string, std::string>, int>& byKindPhase) {}
  virtual void lastSuccess(double unixSeconds) {}
};

}  // namespace tend
