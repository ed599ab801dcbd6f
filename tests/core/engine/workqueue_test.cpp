#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "core/engine/workqueue.h"

using namespace std::chrono_literals;
using tend::FakeClock;
using tend::engine::WorkQueue;
using tend::engine::WorkQueueOptions;

TEST_CASE("workqueue collapses duplicate adds", "[core][workqueue]") {
  FakeClock clock;
  WorkQueue q(clock);
  for (int i = 0; i < 1000; ++i) q.add("container/app/web");
  CHECK(q.len() == 1);
  auto k = q.tryGet();
  REQUIRE(k);
  CHECK(*k == "container/app/web");
  CHECK_FALSE(q.tryGet());
  q.done(*k);
  CHECK_FALSE(q.tryGet());
  CHECK(q.len() == 0);
}

TEST_CASE("workqueue re-queues a key added while it is processed, after done", "[core][workqueue]") {
  FakeClock clock;
  WorkQueue q(clock);
  q.add("a");
  auto k = q.tryGet();
  REQUIRE(k);
  q.add("a");
  q.add("a");
  CHECK_FALSE(q.tryGet());  // never handed out twice at once
  CHECK(q.isProcessing("a"));
  q.done("a");
  auto k2 = q.tryGet();
  REQUIRE(k2);
  CHECK(*k2 == "a");
  q.done("a");
  CHECK_FALSE(q.tryGet());
}

TEST_CASE("workqueue never hands one key to two workers at once", "[core][workqueue]") {
  tend::SystemClock clock;
  WorkQueue q(clock);
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::mutex mu;
  std::set<std::string> busy;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w)
    workers.emplace_back([&] {
      while (!stop) {
        auto k = q.get(20ms);
        if (!k) continue;
        {
          std::lock_guard lk(mu);
          if (!busy.insert(*k).second) overlap = true;
        }
        std::this_thread::sleep_for(50us);
        {
          std::lock_guard lk(mu);
          busy.erase(*k);
        }
        processed++;
        q.done(*k);
      }
    });
  for (int i = 0; i < 20000; ++i) q.add("key" + std::to_string(i % 5));
  auto until = std::chrono::steady_clock::now() + 5s;
  while ((q.len() > 0 || q.processingLen() > 0) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  stop = true;
  q.shutDown();
  for (auto& t : workers) t.join();
  CHECK_FALSE(overlap);
  CHECK(processed > 0);
  CHECK(processed < 20000);  // duplicates collapsed
}

TEST_CASE("workqueue backoff doubles from the base to the cap with bounded jitter", "[core][workqueue]") {
  FakeClock clock;
  WorkQueueOptions o;
  o.backoffBase = 1s;
  o.backoffCap = 5min;
  o.jitter = 0.1;
  o.seed = 42;
  WorkQueue q(clock, o);
  std::vector<double> expected = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300};
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("failure " << i);
    auto d = q.addRateLimited("k");
    REQUIRE(d);
    double s = std::chrono::duration<double>(*d).count();
    CHECK(s >= expected[i]);
    CHECK(s <= std::min(300.0, expected[i] * 1.1) + 1e-9);
    // Not ready before its delay; ready once the fake clock passes it.
    clock.advance(std::chrono::duration_cast<tend::Clock::Duration>(*d) - 1ms);
    CHECK_FALSE(q.tryGet());
    clock.advance(1ms);
    auto k = q.tryGet();
    REQUIRE(k);
    q.done(*k);
  }
  CHECK(q.failures("k") == static_cast<int>(expected.size()));
  q.forget("k");
  CHECK(q.failures("k") == 0);
  auto d = q.addRateLimited("k");
  REQUIRE(d);
  CHECK(std::chrono::duration<double>(*d).count() < 1.1 + 1e-9);
}

TEST_CASE("workqueue backoff without jitter stops exactly at the cap", "[core][workqueue]") {
  // With jitter the cap is applied twice; without it only the backoff itself bounds the delay.
  FakeClock clock;
  WorkQueueOptions o;
  o.backoffBase = 1s;
  o.backoffCap = 5min;
  o.jitter = 0;
  WorkQueue q(clock, o);
  std::vector<double> expected = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("failure " << i);
    CHECK(std::chrono::duration<double>(q.nextBackoff("k")).count() == expected[i]);
    auto d = q.addRateLimited("k");
    REQUIRE(d);
    CHECK(std::chrono::duration<double>(*d).count() == expected[i]);
  }
  for (int i = 0; i < 60; ++i) q.addRateLimited("k");  // 2^70 s uncapped
  CHECK(std::chrono::duration<double>(q.nextBackoff("k")).count() == 300);
}

TEST_CASE("workqueue jitter spreads retries of keys failing together", "[core][workqueue]") {
  FakeClock clock;
  WorkQueueOptions o;
  o.jitter = 0.5;
  o.seed = 7;
  WorkQueue q(clock, o);
  std::set<long long> delays;
  for (int i = 0; i < 20; ++i)
    delays.insert(std::chrono::duration_cast<std::chrono::microseconds>(*q.addRateLimited("k" + std::to_string(i))).count());
  CHECK(delays.size() > 10);
  for (auto d : delays) {
    CHECK(d >= 1000000);
    CHECK(d <= 1500000);
  }
}

TEST_CASE("workqueue addAfter becomes ready only when the clock reaches it", "[core][workqueue]") {
  FakeClock clock;
  WorkQueue q(clock);
  q.addAfter("drift-check", 30s);
  q.addAfter("drift-check", 60s);  // the earlier one wins
  CHECK(q.len() == 1);
  CHECK_FALSE(q.tryGet());
  REQUIRE(q.nextEventAt());
  CHECK(*q.nextEventAt() == clock.now() + 30s);
  clock.advance(29s);
  CHECK_FALSE(q.tryGet());
  clock.advance(1s);
  auto k = q.tryGet();
  REQUIRE(k);
  CHECK(*k == "drift-check");
  q.done(*k);
  CHECK(q.len() == 0);
}

TEST_CASE("workqueue global token bucket limits hand-outs per second", "[core][workqueue]") {
  FakeClock clock;
  WorkQueueOptions o;
  o.ratePerSecond = 2;
  o.burst = 2;
  WorkQueue q(clock, o);
  for (int i = 0; i < 10; ++i) q.add("k" + std::to_string(i));
  int got = 0;
  while (auto k = q.tryGet()) {
    got++;
    q.done(*k);
  }
  CHECK(got == 2);  // the burst
  REQUIRE(q.nextEventAt());
  CHECK(*q.nextEventAt() == clock.now() + 500ms);
  clock.advance(500ms);
  CHECK(q.tryGet());
  CHECK_FALSE(q.tryGet());
  clock.advance(4s);  // refills up to the burst only
  int more = 0;
  while (q.tryGet()) more++;
  CHECK(more == 2);
}

TEST_CASE("workqueue terminal errors are not retried but stay visible", "[core][workqueue]") {
  FakeClock clock;
  WorkQueue q(clock);
  q.markTerminal("vm/x", "provider 'proxmox' is not built into this tend");
  CHECK_FALSE(q.addRateLimited("vm/x"));
  CHECK(q.len() == 0);
  auto t = q.terminalErrors();
  REQUIRE(t.count("vm/x"));
  CHECK(t["vm/x"].find("proxmox") != std::string::npos);
  q.add("vm/x");  // a new trigger is a new attempt
  CHECK(q.terminalErrors().empty());
  CHECK(q.tryGet());
}

TEST_CASE("workqueue get blocks until an add and returns on shutdown", "[core][workqueue]") {
  tend::SystemClock clock;
  WorkQueue q(clock);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    q.add("x");
  });
  auto k = q.get(2s);
  t.join();
  REQUIRE(k);
  CHECK(*k == "x");
  std::thread s([&] {
    std::this_thread::sleep_for(20ms);
    q.shutDown();
  });
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(q.get(5s));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  s.join();
}

TEST_CASE("workqueue clearPending drops waiting keys but keeps failure counts", "[core][workqueue]") {
  FakeClock clock;
  WorkQueue q(clock);
  q.add("a");
  q.addAfter("b", 5s);
  q.addRateLimited("c");
  CHECK(q.len() == 3);
  q.clearPending();
  CHECK(q.len() == 0);
  CHECK(q.failures("c") == 1);
  clock.advance(10min);
  CHECK_FALSE(q.tryGet());
}
