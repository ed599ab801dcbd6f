#pragma once
// The daemon's single line of work: reload the spec and/or run a reconcile pass. Triggers
// (inotify, interval, API, SIGHUP, git poll) enqueue jobs; a job that is still waiting absorbs
// later ones (coalescing), so a burst of triggers costs one pass. One runner thread executes
// jobs in order; the engine spreads the pass over its own worker pool.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"

namespace tend::daemon {

struct JobOutcome {
  bool ran = false;       // false: no pass (spec unchanged, no valid spec, shutting down)
  RunResult result;       // when ran
  std::string error;      // why it did not run, when it should have
};

struct Waiter {
  std::function<void(int64_t runId)> started;        // called on the runner thread
  std::function<void(const JobOutcome&)> finished;   // called on the runner thread, always once
  // After the job's spec load attempt, before its pass (runner thread); not called when the
  // job ends without loading (shutdown). systemd's RELOADING=1 ... READY=1 uses it.
  std::function<void()> loaded;
};

struct Job {
  bool fetch = false;          // git: fetch before loading
  bool reload = false;         // load the spec again
  bool onlyIfChanged = false;  // skip the pass when the applied revision did not change
  bool run = true;
  // nullopt = every resource; otherwise a subset (union when coalesced).
  std::optional<std::set<std::string>> resources;
  std::string trigger;
  std::vector<Waiter> waiters;

  void absorb(Job&& other);
};

class RunQueue {
 public:
  using Executor = std::function<void(Job&)>;
  explicit RunQueue(Executor exec);
  ~RunQueue();
  void start();
  // Enqueue or coalesce with the waiting job. Returns false when shutting down (waiters are
  // then told at once).
  bool submit(Job job);
  // Stop taking jobs; pending waiters are finished with an error. Does not wait.
  void close();
  // Waits for the runner to end, at most `timeout`. Returns true when it ended.
  bool join(std::chrono::milliseconds timeout);
  size_t pending() const;
  bool busy() const;

 private:
  void loop();
  Executor exec_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // at most one waiting job per kind of work after coalescing
  bool closed_ = false;
  bool busy_ = false;
  bool done_ = false;
  std::condition_variable doneCv_;
  std::thread thread_;
};

}  // namespace tend::daemon
