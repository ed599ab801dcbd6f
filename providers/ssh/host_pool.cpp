#include "providers/ssh/host_pool.h"

#include <utility>

namespace tend::ssh {

Lease::Lease(Lease&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)), s_(std::move(o.s_)), reused_(o.reused_) {}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = std::exchange(o.pool_, nullptr);
    s_ = std::move(o.s_);
    reused_ = o.reused_;
  }
  return *this;
}

Lease::~Lease() { release(); }

void Lease::release() {
  if (pool_) pool_->giveBack(std::move(s_));
  pool_ = nullptr;
  s_.reset();
}

void Lease::discard() {
  if (pool_) pool_->giveBack(nullptr);
  pool_ = nullptr;
  s_.reset();
}

HostPool::HostPool(HostConfig cfg, size_t maxSessions)
    : cfg_(std::move(cfg)), max_(maxSessions == 0 ? 1 : maxSessions) {}

HostPool::~HostPool() {
  // Leases must not outlive their pool; idle sessions close here.
  std::lock_guard lk(mu_);
  idle_.clear();
}

void HostPool::giveBack(std::unique_ptr<Session> s) {
  {
    std::lock_guard lk(mu_);
    --inUse_;
    if (s && s->usable())
      idle_.push_back(std::move(s));
    else
      ++stats_.dropped;
  }
  cv_.notify_one();
}

Result<Lease> HostPool::acquire(const CallOptions& opts) {
  std::unique_lock lk(mu_);
  while (true) {
    if (opts.isCancelled()) return makeError(cfg_.target() + ": cancelled while waiting for a session");
    if (opts.expired())
      return makeError(cfg_.target() + ": deadline exceeded while waiting for a session (" +
                       std::to_string(max_) + " in use)");
    while (!idle_.empty()) {
      std::unique_ptr<Session> s = std::move(idle_.back());
      idle_.pop_back();
      ++inUse_;
      if (s->usable() && Clock::now() - s->lastUsed() >= cfg_.keepAliveInterval) {
        // Idle long enough for a firewall or sshd restart to have dropped it: ask first.
        lk.unlock();
        // A dead session is closed before the lock is taken again (closing sends a packet).
        if (!s->keepAlive(opts)) s.reset();
        lk.lock();
      }
      if (s && s->usable()) return Lease(this, std::move(s), true);
      --inUse_;
      ++stats_.dropped;
    }
    if (inUse_ + connecting_ < max_) {
      ++connecting_;
      lk.unlock();
      auto s = Session::open(cfg_, opts);
      lk.lock();
      --connecting_;
      if (!s) {
        lk.unlock();
        cv_.notify_one();
        return s.error();
      }
      ++inUse_;
      ++stats_.connects;
      return Lease(this, std::move(*s), false);
    }
    cv_.wait_for(lk, std::min(opts.remaining(), std::chrono::milliseconds(50)));
  }
}

template <class T, class Fn>
Result<T> HostPool::withRetry(const CallOptions& opts, Fn&& fn) {
  auto lease = acquire(opts);
  if (!lease) return lease.error();
  Result<T> r = fn(**lease);
  if (!r && lease->reused() && (**lease).failedBeforeSending()) {
    // The connection died while idle and nothing was sent: the other idle sessions to this
    // host are most likely dead as well, so start over on a new connection.
    lease->discard();
    closeIdle();
    {
      std::lock_guard lk(mu_);
      ++stats_.reconnects;
    }
    auto fresh = acquire(opts);
    if (!fresh) return fresh.error();
    r = fn(**fresh);
  }
  return r;
}

Result<ExecResult> HostPool::exec(const std::string& command, const CallOptions& opts,
                                  std::string_view input) {
  return withRetry<ExecResult>(opts, [&](Session& s) { return s.exec(command, opts, input); });
}

Result<std::optional<std::string>> HostPool::readFile(const std::string& path,
                                                      const CallOptions& opts) {
  return withRetry<std::optional<std::string>>(opts,
                                               [&](Session& s) { return s.readFile(path, opts); });
}

Result<void> HostPool::writeFileAtomic(const std::string& path, std::string_view content,
                                       const WriteOptions& w, const CallOptions& opts) {
  return withRetry<void>(opts,
                         [&](Session& s) { return s.writeFileAtomic(path, content, w, opts); });
}

Result<std::unique_ptr<PooledStream>> HostPool::openStreamLocal(const std::string& socketPath,
                                                                const CallOptions& opts) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = acquire(opts);
    if (!lease) return lease.error();
    auto ch = (*lease)->openStreamLocal(socketPath, opts);
    if (ch) return std::unique_ptr<PooledStream>(new PooledStream(std::move(*lease), std::move(*ch)));
    if (attempt == 0 && lease->reused() && (*lease)->failedBeforeSending()) {
      lease->discard();
      closeIdle();
      std::lock_guard lk(mu_);
      ++stats_.reconnects;
      continue;
    }
    return ch.error();
  }
  return makeError(cfg_.target() + ": cannot open a stream to " + socketPath);
}

void HostPool::keepAlive(const CallOptions& opts) {
  std::deque<std::unique_ptr<Session>> due;
  {
    std::lock_guard lk(mu_);
    auto now = Clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (now - (*it)->lastUsed() >= cfg_.keepAliveInterval) {
        due.push_back(std::move(*it));
        it = idle_.erase(it);
        ++inUse_;
      } else {
        ++it;
      }
    }
  }
  for (auto& s : due) {
    s->keepAlive(opts);
    giveBack(std::move(s));
  }
}

void HostPool::closeIdle() {
  std::deque<std::unique_ptr<Session>> old;
  {
    std::lock_guard lk(mu_);
    old.swap(idle_);
    stats_.dropped += old.size();
  }
  // Disconnecting sends a packet: done outside the lock.
  old.clear();
}

PoolStats HostPool::stats() const {
  std::lock_guard lk(mu_);
  PoolStats s = stats_;
  s.idle = idle_.size();
  s.inUse = inUse_;
  return s;
}

}  // namespace tend::ssh
