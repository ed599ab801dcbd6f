#pragma once
// Injected clock so the workqueue, backoff and serials are testable without sleeps.
#include <chrono>

namespace tend {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;                  // monotonic
  virtual std::chrono::system_clock::time_point wallNow() const = 0;  // for timestamps/serials
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::now();
  }
};

// Test clock: time moves only when told.
class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return mono_; }
  std::chrono::system_clock::time_point wallNow() const override { return wall_; }
  void advance(Duration d) {
    mono_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }
  void setWall(std::chrono::system_clock::time_point t) { wall_ = t; }

 private:
  TimePoint mono_{};
  std::chrono::system_clock::time_point wall_{std::chrono::system_clock::now()};
};

}  // namespace tend
