#include "core/engine/workqueue.h"

#include <algorithm>
#include <cmath>

namespace tend::engine {

namespace {
Clock::Duration secondsToDuration(double s) {
  return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(s));
}
}  // namespace

TokenBucket::TokenBucket(double ratePerSecond, double burst, Clock::TimePoint now)
    : rate_(ratePerSecond),
      burst_(burst > 0 ? burst : std::max(1.0, ratePerSecond)),
      tokens_(burst_),
      last_(now) {}

void TokenBucket::refill(Clock::TimePoint now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::tryTake(Clock::TimePoint now) {
  if (unlimited()) return true;
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  return false;
}

Clock::TimePoint TokenBucket::nextTokenAt(Clock::TimePoint now) const {
  if (unlimited()) return now;
  double elapsed = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0.0;
  double tokens = std::min(burst_, tokens_ + elapsed * rate_);
  if (tokens >= 1.0) return now;
  return now + secondsToDuration((1.0 - tokens) / rate_);
}

WorkQueue::WorkQueue(const Clock& clock, WorkQueueOptions opts)
    : clock_(clock),
      opts_(opts),
      bucket_(opts.ratePerSecond, opts.burst, clock.now()),
      rng_(opts.seed ? opts.seed : std::random_device{}()) {}

void WorkQueue::addLocked(const std::string& key) {
  if (shutDown_) return;
  if (dirty_.count(key)) return;  // already queued (or queued again after processing)
  dirty_.insert(key);
  if (processing_.count(key)) return;  // done() re-queues it
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lk(mu_);
  terminal_.erase(key);
  if (auto it = delayedAt_.find(key); it != delayedAt_.end()) {
    auto range = delayed_.equal_range(it->second);
    for (auto d = range.first; d != range.second; ++d)
      if (d->second == key) {
        delayed_.erase(d);
        break;
      }
    delayedAt_.erase(it);
  }
  addLocked(key);
}

void WorkQueue::addAfter(const std::string& key, Clock::Duration d) {
  std::lock_guard lk(mu_);
  if (shutDown_) return;
  if (d <= Clock::Duration::zero()) {
    addLocked(key);
    return;
  }
  auto at = clock_.now() + d;
  if (auto it = delayedAt_.find(key); it != delayedAt_.end()) {
    if (it->second <= at) return;  // an earlier delayed add already exists
    auto range = delayed_.equal_range(it->second);
    for (auto x = range.first; x != range.second; ++x)
      if (x->second == key) {
        delayed_.erase(x);
        break;
      }
  }
  delayed_.emplace(at, key);
  delayedAt_[key] = at;
  cv_.notify_one();
}

Clock::Duration WorkQueue::backoffLocked(int failures) const {
  // base * 2^failures, computed in double to avoid overflow, then capped.
  double base = std::chrono::duration<double>(opts_.backoffBase).count();
  double cap = std::chrono::duration<double>(opts_.backoffCap).count();
  double d = base * std::pow(2.0, std::min(failures, 62));
  return secondsToDuration(std::min(d, cap));
}

Clock::Duration WorkQueue::nextBackoff(const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = failures_.find(key);
  return backoffLocked(it == failures_.end() ? 0 : it->second);
}

std::optional<Clock::Duration> WorkQueue::addRateLimited(const std::string& key) {
  Clock::Duration d;
  {
    std::lock_guard lk(mu_);
    if (terminal_.count(key)) return std::nullopt;
    int& n = failures_[key];
    d = backoffLocked(n);
    ++n;
    if (opts_.jitter > 0) {
      std::uniform_real_distribution<double> u(0.0, opts_.jitter);
      auto extra = std::chrono::duration_cast<Clock::Duration>(d * u(rng_));
      d = std::min<Clock::Duration>(d + extra, opts_.backoffCap);
    }
  }
  addAfter(key, d);
  return d;
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lk(mu_);
  failures_.erase(key);
  terminal_.erase(key);
}

void WorkQueue::forgetAll() {
  std::lock_guard lk(mu_);
  failures_.clear();
  terminal_.clear();
}

int WorkQueue::failures(const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::markTerminal(const std::string& key, std::string message) {
  std::lock_guard lk(mu_);
  terminal_[key] = std::move(message);
}

std::map<std::string, std::string> WorkQueue::terminalErrors() const {
  std::lock_guard lk(mu_);
  return terminal_;
}

void WorkQueue::promoteDueLocked(Clock::TimePoint now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delayedAt_.erase(key);
    addLocked(key);
  }
}

std::optional<std::string> WorkQueue::tryGetLocked(Clock::TimePoint now) {
  promoteDueLocked(now);
  if (queue_.empty()) return std::nullopt;
  if (!bucket_.tryTake(now)) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

std::optional<std::string> WorkQueue::tryGet() {
  std::lock_guard lk(mu_);
  if (shutDown_) return std::nullopt;
  return tryGetLocked(clock_.now());
}

std::optional<std::string> WorkQueue::get(std::chrono::milliseconds maxWait) {
  std::unique_lock lk(mu_);
  auto giveUp = std::chrono::steady_clock::now() + maxWait;
  for (;;) {
    if (shutDown_) return std::nullopt;
    auto now = clock_.now();
    if (auto k = tryGetLocked(now)) return k;
    auto realNow = std::chrono::steady_clock::now();
    if (realNow >= giveUp) return std::nullopt;
    auto wait = giveUp - realNow;
    // Sleep until the next delayed key or rate token is due by the injected clock; a bounded
    // poll keeps fake clocks (advanced by another thread without wakeUp()) working.
    std::optional<Clock::TimePoint> next;
    if (!delayed_.empty()) next = delayed_.begin()->first;
    if (!queue_.empty()) {
      auto t = bucket_.nextTokenAt(now);
      next = next ? std::min(*next, t) : t;
    }
    if (next) wait = std::min<std::chrono::steady_clock::duration>(wait, *next - now);
    wait = std::min<std::chrono::steady_clock::duration>(wait, std::chrono::milliseconds(50));
    if (wait < std::chrono::microseconds(100)) wait = std::chrono::microseconds(100);
    cv_.wait_for(lk, wait);
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lk(mu_);
  processing_.erase(key);
  if (dirty_.count(key)) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

size_t WorkQueue::len() const {
  std::lock_guard lk(mu_);
  return queue_.size() + delayed_.size();
}
size_t WorkQueue::readyLen() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}
size_t WorkQueue::delayedLen() const {
  std::lock_guard lk(mu_);
  return delayed_.size();
}
size_t WorkQueue::processingLen() const {
  std::lock_guard lk(mu_);
  return processing_.size();
}
bool WorkQueue::isProcessing(const std::string& key) const {
  std::lock_guard lk(mu_);
  return processing_.count(key) > 0;
}

std::optional<Clock::TimePoint> WorkQueue::nextEventAt() const {
  std::lock_guard lk(mu_);
  auto now = clock_.now();
  std::optional<Clock::TimePoint> next;
  if (!queue_.empty()) next = bucket_.nextTokenAt(now);
  if (!delayed_.empty()) {
    auto t = delayed_.begin()->first;
    next = next ? std::min(*next, t) : t;
  }
  return next;
}

void WorkQueue::clearPending() {
  std::lock_guard lk(mu_);
  for (auto& k : queue_) dirty_.erase(k);
  queue_.clear();
  // Keys re-added while processing stay dirty only if they are still processing; drop those
  // marks too so a finished pass leaves nothing behind.
  for (auto it = dirty_.begin(); it != dirty_.end();)
    it = processing_.count(*it) ? dirty_.erase(it) : std::next(it);
  delayed_.clear();
  delayedAt_.clear();
}

void WorkQueue::wakeUp() {
  std::lock_guard lk(mu_);
  cv_.notify_all();
}

void WorkQueue::shutDown() {
  std::lock_guard lk(mu_);
  shutDown_ = true;
  cv_.notify_all();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lk(mu_);
  return shutDown_;
}

}  // namespace tend::engine
