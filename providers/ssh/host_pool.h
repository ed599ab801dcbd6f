#pragma once
// One pool of SSH sessions per host. Workers borrow a session for one call (or, for a
// stream, for the stream's life); idle sessions are kept for reuse, probed with a keepalive
// when they sat idle longer than the host's keepAliveInterval, and replaced when the host
// dropped them. A call that fails on a reused session before anything reached the host (the
// host restarted sshd, a NAT forgot the connection) is retried once on a fresh connection;
// nothing is ever run twice.
//
// Thread-safe; every call blocks and belongs on a worker thread.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "providers/ssh/ssh_session.h"

namespace tend::ssh {

class HostPool;

// A borrowed session; goes back to the pool (or is dropped if broken) on destruction.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept;
  Lease& operator=(Lease&& o) noexcept;
  ~Lease();
  Session* operator->() const { return s_.get(); }
  Session& operator*() const { return *s_; }
  explicit operator bool() const { return s_ != nullptr; }
  bool reused() const { return reused_; }
  // Drops the session instead of returning it (its state is unknown).
  void discard();

 private:
  friend class HostPool;
  Lease(HostPool* p, std::unique_ptr<Session> s, bool reused)
      : pool_(p), s_(std::move(s)), reused_(reused) {}
  void release();
  HostPool* pool_ = nullptr;
  std::unique_ptr<Session> s_;
  bool reused_ = false;
};

// A stream that holds its session for as long as it is open.
class PooledStream {
 public:
  StreamChannel& operator*() { return *ch_; }
  StreamChannel* operator->() { return ch_.get(); }

 private:
  friend class HostPool;
  PooledStream(Lease l, std::unique_ptr<StreamChannel> ch)
      : lease_(std::move(l)), ch_(std::move(ch)) {}
  Lease lease_;  // declared first: destroyed after the channel that borrows its session
  std::unique_ptr<StreamChannel> ch_;
};

struct PoolStats {
  size_t connects = 0;        // sessions opened
  size_t reconnects = 0;      // calls retried on a fresh session after a dead one
  size_t dropped = 0;         // sessions found dead or broken and closed
  size_t idle = 0;
  size_t inUse = 0;
};

class HostPool {
 public:
  explicit HostPool(HostConfig cfg, size_t maxSessions = 4);
  ~HostPool();
  HostPool(const HostPool&) = delete;
  HostPool& operator=(const HostPool&) = delete;

  const HostConfig& config() const { return cfg_; }

  // Waits (until the deadline) for an idle session or room for a new one.
  Result<Lease> acquire(const CallOptions& opts);

  Result<ExecResult> exec(const std::string& command, const CallOptions& opts,
                          std::string_view input = {});
  Result<std::optional<std::string>> readFile(const std::string& path, const CallOptions& opts);
  Result<void> writeFileAtomic(const std::string& path, std::string_view content,
                               const WriteOptions& w, const CallOptions& opts);
  Result<std::unique_ptr<PooledStream>> openStreamLocal(const std::string& socketPath,
                                                        const CallOptions& opts);

  // Probes idle sessions older than keepAliveInterval (so firewalls keep them) and drops the
  // dead ones. Meant for a periodic worker task; cheap when nothing is due.
  void keepAlive(const CallOptions& opts);
  // Closes every idle session (sessions in use close when returned).
  void closeIdle();
  PoolStats stats() const;

 private:
  friend class Lease;
  void giveBack(std::unique_ptr<Session> s);
  // Runs fn on a lease; once more on a fresh session when a reused one failed before sending.
  template <class T, class Fn>
  Result<T> withRetry(const CallOptions& opts, Fn&& fn);

  HostConfig cfg_;
  size_t max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Session>> idle_;  // most recently used at the back
  size_t inUse_ = 0;
  size_t connecting_ = 0;
  PoolStats stats_;
};

}  // namespace tend::ssh
