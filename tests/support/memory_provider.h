#pragma once
// Test-only in-memory Provider with fault injection (tests/support). Objects live in a map;
// every call is counted and logged so tests can assert on what the engine did.
//
// Plan rules (the same shape real providers follow):
//   absent → create "absent"; exists+unowned → conflict; owned+appliedHash≠hash → update
//   "spec changed"; owned and state.drift == true → update, drift=true; owned not in the spec
//   (delete request) → delete; otherwise noop.
// Faults: fail the Nth call, fail given ids (terminal or not), hang until cancelled, slow
// calls, garbage observations (wrong ids, malformed state, unmarked entries), progressing
// applies that become ready after N re-observations.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/provider.h"

namespace tend::testing {

class MemoryProvider : public Provider {
 public:
  struct Object {
    std::string id;
    bool owned = true;
    std::string appliedHash;
    bool ready = true;
    nlohmann::json state = nlohmann::json::object();
  };

  struct Faults {
    int failNthApply = 0;    // 1-based over all apply calls; 0 = never
    int failNthObserve = 0;  // 1-based over all observe calls
    std::set<std::string> failApplyIds;     // apply fails for these (every time)
    bool failTerminal = false;              // failures above are terminal
    std::set<std::string> observeErrorIds;  // observe reports a per-id error
    std::set<std::string> hangApplyIds;     // apply blocks until ctx cancelled (or deadline)
    bool hangObserve = false;               // observe blocks until cancelled
    std::chrono::milliseconds applyDelay{0};
    std::chrono::milliseconds observeDelay{0};
    bool garbage = false;  // observe adds malformed entries and mangles desired ones' state
    // apply returns Progressing; the object turns ready after this many later observations.
    std::map<std::string, int> progressingObserves;
    std::optional<std::chrono::seconds> progressingRequeue;  // requeueAfter to return
    bool throwOnApply = false;  // violates the contract on purpose: the engine must survive
    std::string failMessage;    // message of injected apply failures ("" = a default one)
  };

  explicit MemoryProvider(std::string name = "memory",
                          std::vector<std::string> kinds = {"container", "network", "volume",
                                                            "image", "host", "vm", "zone",
                                                            "dnsconf", "template", "thing"});

  std::string name() const override { return name_; }
  std::vector<std::string> kinds() const override { return kinds_; }
  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;

  // --- setup and inspection (thread-safe) ---
  void setFaults(Faults f);
  Faults faults() const;
  void put(Object o);
  void putUnowned(const std::string& id);
  void erase(const std::string& id);
  void setDrift(const std::string& id, bool drift = true);
  std::optional<Object> get(const std::string& id) const;
  std::map<std::string, Object> objects() const;

  int observeCalls() const { return observeCalls_.load(); }
  int applyCalls() const { return applyCalls_.load(); }
  int applyCount(const std::string& id) const;
  // (id, action) in the order applies started.
  std::vector<std::pair<std::string, Action>> applyLog() const;
  int maxConcurrentApplies() const { return maxConcurrent_.load(); }
  bool sameKeyOverlap() const { return sameKeyOverlap_.load(); }  // an id applied twice at once
  // Called at the start of each apply (gates, assertions).
  void onApply(std::function<void(const ApplyRequest&)> f);
  // Called at the start of each observe.
  void onObserve(std::function<void(const ObserveRequest&)> f);

 private:
  std::string name_;
  std::vector<std::string> kinds_;
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;
  Faults faults_;
  std::map<std::string, int> applyCounts_;
  std::vector<std::pair<std::string, Action>> log_;
  std::set<std::string> applying_;
  std::function<void(const ApplyRequest&)> onApply_;
  std::function<void(const ObserveRequest&)> onObserve_;
  std::atomic<int> observeCalls_{0};
  std::atomic<int> applyCalls_{0};
  std::atomic<int> concurrent_{0};
  std::atomic<int> maxConcurrent_{0};
  std::atomic<bool> sameKeyOverlap_{false};
};

// Blocks until ctx is cancelled or its deadline passes (for hang faults).
void waitUntilCancelled(const CallContext& ctx);

}  // namespace tend::testing
