#pragma once
// Schedule stage: when a key may go on. Two questions, both pure bookkeeping on the engine's
// thread: are its dependencies ready (or is it blocked, and by which one root cause), and
// do the concurrency keys its apply runs under have room (the provider-wide limit plus the
// provider's own keys: one apt transaction per host, N clones per node, one operation per VM).
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/provider.h"

namespace tend::engine {

// What the schedule stage needs to know of one dependency.
struct DepView {
  std::string_view id;  // views into the graph and keys: built per check, never stored
  bool known = true;     // in the desired graph
  bool ready = false;    // ready, or started when started suffices for the dependent
  bool active = false;   // being reconciled (queued, observing, applying, progressing, retrying)
  bool blocked = false;  // settled blocked itself: root names its root cause
  std::string_view root;
};

struct DepVerdict {
  enum What { Go, Wait, Blocked } what = Go;
  std::string on;  // Wait: the dependency waited for; Blocked: the one root cause
};

// Go when every dependency is ready; Wait while one is still active; else Blocked by the first
// unready dependency that is not itself blocked (failed, conflict, unknown), or when all are
// blocked, by the root cause of the first of them: one name, no cascade.
DepVerdict dependencyVerdict(const std::vector<DepView>& deps);

// The keys an apply runs under after the spec's reconcile.parallelism: "<provider>" overrides
// the provider-wide limit, "<provider>/<class>" the limit of the provider's keys of that class
// (the part of the key's name before its first '/').
std::vector<ConcurrencyKey> effectiveKeys(const std::string& providerName, int providerLimit,
                                          std::vector<ConcurrencyKey> providerKeys,
                                          const std::map<std::string, int>& parallelism);

// Counts what is in use per key name; all-or-nothing acquisition.
class ConcurrencyLimiter {
 public:
  bool tryAcquire(const std::vector<ConcurrencyKey>& keys);
  void release(const std::vector<ConcurrencyKey>& keys);
  int inUse(const std::string& name) const;

 private:
  std::unordered_map<std::string, int> used_;
};

}  // namespace tend::engine
