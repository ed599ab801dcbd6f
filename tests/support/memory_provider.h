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

#include "core/clock.h"
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
    // Creates of these ids run as remote tasks of the given length on the injected clock
    // (a Proxmox clone): apply starts one, keeps its id in private data and answers
    // Progressing; later applies with that private data follow it instead of starting another.
    std::map<std::string, std::chrono::seconds> taskIds;
    std::chrono::seconds taskPoll{5};  // requeueAfter of a running task
    // Apply answers Busy (a lock held elsewhere) this many times, retry after busyAfter.
    std::map<std::string, int> busyApplies;
    std::chrono::seconds busyAfter{3};
    // Observe of a scope (spec.host) in this set fails as a whole: "host unreachable".
    std::set<std::string> downScopes;
    // Apply of these ids blocks in a condition variable until the call is cancelled (through
    // ctx.onCancel, not by polling).
    std::set<std::string> blockApplyIds;
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
  // spec.host names the observe scope and the concurrency key "host/<name>".
  std::string observeScope(const DesiredResource& r) const override;
  std::vector<ConcurrencyKey> concurrencyKeys(const DesiredResource* desired,
                                              const PlannedAction& action) const override;
  void setHostLimit(int n) { hostLimit_ = n; }
  // The clock tasks run on (null: the system clock).
  void setClock(const Clock* c) { clock_ = c; }
  int tasksStarted() const { return tasksStarted_.load(); }
  // Observe calls per scope ("" for none), and the ids of each call.
  std::vector<std::vector<std::string>> observeLog() const;
  // Forgets the call logs above (a long soak would otherwise measure them growing).
  void clearLogs();
  int maxConcurrentPerHost() const { return maxHostConcurrent_.load(); }

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
  std::atomic<int> hostLimit_{0};
  const Clock* clock_ = nullptr;
  std::atomic<int> tasksStarted_{0};
  std::map<std::string, std::chrono::steady_clock::time_point> tasks_;  // task id -> end
  std::vector<std::vector<std::string>> observeLog_;
  std::map<std::string, int> hostConcurrent_;
  std::atomic<int> maxHostConcurrent_{0};
};

// Blocks until ctx is cancelled or its deadline passes (for hang faults).
void waitUntilCancelled(const CallContext& ctx);

}  // namespace tend::testing
