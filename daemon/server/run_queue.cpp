#include "daemon/server/run_queue.h"

#include "core/log.h"

namespace tend::daemon {

void Job::absorb(Job&& o) {
  fetch = fetch || o.fetch;
  reload = reload || o.reload;
  // A job that must run absorbs a conditional one; two conditional ones stay conditional.
  onlyIfChanged = onlyIfChanged && o.onlyIfChanged;
  run = run || o.run;
  if (!resources || !o.resources) {
    resources.reset();
  } else {
    resources->insert(o.resources->begin(), o.resources->end());
  }
  if (trigger.empty()) trigger = o.trigger;
  for (auto& w : o.waiters) waiters.push_back(std::move(w));
}

RunQueue::RunQueue(Executor exec) : exec_(std::move(exec)) {}

RunQueue::~RunQueue() {
  close();
  if (thread_.joinable()) thread_.join();
}

void RunQueue::start() { thread_ = std::thread([this] { loop(); }); }

bool RunQueue::submit(Job job) {
  {
    std::lock_guard lk(mu_);
    if (!closed_) {
      // Coalesce with the job still waiting (never with the one running).
      if (!jobs_.empty()) {
        jobs_.back().absorb(std::move(job));
      } else {
        jobs_.push_back(std::move(job));
      }
      cv_.notify_one();
      return true;
    }
  }
  JobOutcome out;
  out.error = "tendd is shutting down";
  for (auto& w : job.waiters)
    if (w.finished) w.finished(out);
  return false;
}

void RunQueue::close() {
  std::deque<Job> dropped;
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    dropped.swap(jobs_);
    cv_.notify_all();
  }
  JobOutcome out;
  out.error = "tendd is shutting down";
  for (auto& j : dropped)
    for (auto& w : j.waiters)
      if (w.finished) w.finished(out);
}

bool RunQueue::join(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (!thread_.joinable()) return true;
  bool ended = doneCv_.wait_for(lk, timeout, [&] { return done_; });
  lk.unlock();
  if (ended) thread_.join();
  return ended;
}

size_t RunQueue::pending() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

bool RunQueue::busy() const {
  std::lock_guard lk(mu_);
  return busy_;
}

void RunQueue::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return closed_ || !jobs_.empty(); });
      if (closed_) break;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      busy_ = true;
    }
    try {
      exec_(job);
    } catch (const std::exception& e) {
      // A bug, not an expected path: report it to the waiters and keep the daemon alive.
      log::error("reconcile job failed with an exception", {{"error", e.what()}});
      JobOutcome out;
      out.error = std::string("internal error: ") + e.what();
      for (auto& w : job.waiters)
        if (w.finished) w.finished(out);
    }
    std::lock_guard lk(mu_);
    busy_ = false;
  }
  std::lock_guard lk(mu_);
  done_ = true;
  doneCv_.notify_all();
}

}  // namespace tend::daemon
