#pragma once
// Cancellation of one provider call (or of everything, on SIGTERM). A polled flag is not
// enough for calls blocked in I/O: a provider registers a callback that interrupts its own
// blocking operation (closes a socket, cancels an asio stream, kills a child process), and
// cancel() runs it once, on the cancelling thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace tend {

class CancelSignal : public std::enable_shared_from_this<CancelSignal> {
 public:
  // Deregisters its callback when destroyed (a callback already running is not waited for:
  // callbacks must hold what they touch by shared_ptr or post to a longer-lived executor).
  class Registration {
   public:
    Registration() = default;
    Registration(std::weak_ptr<const CancelSignal> s, uint64_t id) : sig_(std::move(s)), id_(id) {}
    Registration(Registration&& o) noexcept : sig_(std::move(o.sig_)), id_(o.id_) { o.id_ = 0; }
    Registration& operator=(Registration&& o) noexcept {
      reset();
      sig_ = std::move(o.sig_);
      id_ = o.id_;
      o.id_ = 0;
      return *this;
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { reset(); }
    void reset() {
      if (id_ == 0) return;
      if (auto s = sig_.lock()) s->deregister(id_);
      id_ = 0;
    }

   private:
    std::weak_ptr<const CancelSignal> sig_;
    uint64_t id_ = 0;
  };

  static std::shared_ptr<CancelSignal> make() { return std::make_shared<CancelSignal>(); }

  // Idempotent; callbacks run once, outside the lock.
  void cancel() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lk(mu_);
      if (flag_.exchange(true)) return;
      for (auto& [id, f] : callbacks_) run.push_back(std::move(f));
      callbacks_.clear();
    }
    for (auto& f : run) f();
  }
  bool cancelled() const { return flag_.load(); }
  const std::atomic<bool>* flag() const { return &flag_; }

  // Runs `fn` when cancelled, at once when already cancelled.
  [[nodiscard]] Registration onCancel(std::function<void()> fn) const {
    {
      std::lock_guard lk(mu_);
      if (!flag_.load()) {
        uint64_t id = ++next_;
        callbacks_.emplace(id, std::move(fn));
        return Registration(weak_from_this(), id);
      }
    }
    fn();
    return {};
  }

 private:
  void deregister(uint64_t id) const {
    std::lock_guard lk(mu_);
    callbacks_.erase(id);
  }
  std::atomic<bool> flag_{false};
  mutable std::mutex mu_;
  mutable uint64_t next_ = 0;
  mutable std::map<uint64_t, std::function<void()>> callbacks_;
};

}  // namespace tend
