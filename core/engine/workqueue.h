#pragma once
// The engine's workqueue (client-go style): it holds keys (resource ids), never events or
// diffs. Duplicate adds collapse; a key is never handed out twice at once (a key added while
// it is being processed is queued again when done() is called); per-key exponential backoff
// with jitter; a global token-bucket rate limit on hand-outs; delayed adds for requeue_after;
// terminal errors are remembered (visible) but never retried by addRateLimited().
//
// Readiness is computed from an injected Clock, so tests drive it with a FakeClock and
// tryGet() without any sleep. get() waits on a condition variable for real-time use.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/clock.h"

namespace tend::engine {

struct WorkQueueOptions {
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffCap{5 * 60 * 1000};
  // Each backoff delay d becomes a uniform value in [d, d * (1 + jitter)], never above the cap,
  // so retries of many keys failing together spread out instead of stampeding.
  double jitter = 0.1;
  double ratePerSecond = 0;  // global hand-out rate; <= 0 means unlimited
  double burst = 0;          // bucket size; 0 means max(1, ratePerSecond)
  uint64_t seed = 0;         // jitter RNG seed; 0 = random
};

// Token bucket on the injected clock.
class TokenBucket {
 public:
  TokenBucket(double ratePerSecond, double burst, Clock::TimePoint now);
  bool unlimited() const { return rate_ <= 0; }
  bool tryTake(Clock::TimePoint now);
  // When the next token is available (now if one is).
  Clock::TimePoint nextTokenAt(Clock::TimePoint now) const;

 private:
  void refill(Clock::TimePoint now);
  double rate_;
  double burst_;
  double tokens_;
  Clock::TimePoint last_;
};

class WorkQueue {
 public:
  explicit WorkQueue(const Clock& clock, WorkQueueOptions opts = {});

  // Queue now. Collapses with a queued copy; clears a terminal mark (a new trigger is a new
  // attempt) and any pending delayed add of the key.
  void add(const std::string& key);
  // Queue after d (requeue_after). Of several delayed adds the earliest wins.
  void addAfter(const std::string& key, Clock::Duration d);
  // Queue after this key's backoff delay and count a failure. Returns the delay used, or
  // nullopt when the key is marked terminal (not retried).
  std::optional<Clock::Duration> addRateLimited(const std::string& key);
  // The delay the next addRateLimited() would use without jitter (for messages).
  Clock::Duration nextBackoff(const std::string& key) const;
  // Success: reset the key's failure count and terminal mark.
  void forget(const std::string& key);
  // Reset every key's failure count and terminal mark (a new pass, a new budget).
  void forgetAll();
  int failures(const std::string& key) const;

  // A terminal error: not retried, but visible until forget()/add().
  void markTerminal(const std::string& key, std::string message);
  std::map<std::string, std::string> terminalErrors() const;

  // Non-blocking: a ready key (and a rate token), marked processing; nullopt otherwise.
  std::optional<std::string> tryGet();
  // Blocking up to maxWait (real time): nullopt on timeout or shutdown.
  std::optional<std::string> get(std::chrono::milliseconds maxWait);
  // Processing of key ended; if it was added meanwhile, it is queued again now.
  void done(const std::string& key);

  // Keys waiting (ready or delayed), not counting those being processed.
  size_t len() const;
  size_t readyLen() const;
  size_t delayedLen() const;
  size_t processingLen() const;
  bool isProcessing(const std::string& key) const;
  // Earliest time something may become available (a delayed key or a rate token); nullopt
  // when nothing is waiting.
  std::optional<Clock::TimePoint> nextEventAt() const;
  // Drop every waiting (ready or delayed) key; failure counts and processing keys stay.
  void clearPending();
  // Wakes get() callers (e.g. after advancing a fake clock) and, with shutDown, ends them.
  void wakeUp();
  void shutDown();
  bool shuttingDown() const;

 private:
  void promoteDueLocked(Clock::TimePoint now);
  void addLocked(const std::string& key);
  Clock::Duration backoffLocked(int failures) const;
  std::optional<std::string> tryGetLocked(Clock::TimePoint now);

  const Clock& clock_;
  WorkQueueOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;            // ready, in order
  std::unordered_set<std::string> dirty_;    // needs processing (queued, or re-added while processing)
  std::unordered_set<std::string> processing_;
  std::multimap<Clock::TimePoint, std::string> delayed_;
  std::unordered_map<std::string, Clock::TimePoint> delayedAt_;
  std::unordered_map<std::string, int> failures_;
  std::map<std::string, std::string> terminal_;
  TokenBucket bucket_;
  std::mt19937_64 rng_;
  bool shutDown_ = false;
};

}  // namespace tend::engine
