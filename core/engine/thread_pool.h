#pragma once
// A bounded pool of worker threads for blocking provider calls (observe/apply) and store writes.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tend::engine {

class ThreadPool {
 public:
  // At most `threads` workers, started as work arrives: a task that finds no idle worker
  // starts one (up to the limit), so a pass with one call in flight costs one thread, not the
  // whole pool (a `tendd --once` starts and joins one thread where it started eight).
  explicit ThreadPool(int threads) : max_(threads < 1 ? 1 : static_cast<size_t>(threads)) {}
  ~ThreadPool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void submit(std::function<void()> task) {
    {
      std::lock_guard lk(mu_);
      tasks_.push_back(std::move(task));
      // Idle workers already woken for earlier tasks still count as idle here, and their
      // tasks are still queued: a worker is started whenever queued tasks outnumber them.
      if (!stop_ && idle_ < tasks_.size() && threads_.size() < max_) threads_.emplace_back([this] { loop(); });
    }
    cv_.notify_one();
  }
  size_t size() const { return max_; }
  size_t started() const {
    std::lock_guard lk(mu_);
    return threads_.size();
  }
  size_t idle() const {
    std::lock_guard lk(mu_);
    return idle_;
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lk(mu_);
        ++idle_;
        cv_.wait(lk, [this] { return stop_ || !tasks_.empty(); });
        --idle_;
        // Drain queued tasks even when stopping: each one reports a completion somebody waits for.
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  const size_t max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stop_ = false;
};

}  // namespace tend::engine
