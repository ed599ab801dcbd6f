// The engine's worker pool starts workers as work arrives, up to its limit.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/engine/thread_pool.h"

using namespace std::chrono_literals;
using tend::engine::ThreadPool;

namespace {
// Tasks that block until released, counting how many run at once.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  int running = 0, done = 0;
  void task() {
    std::unique_lock lk(m);
    ++running;
    cv.notify_all();
    cv.wait(lk, [this] { return open; });
    --running;
    ++done;
    cv.notify_all();
  }
  bool waitRunning(int n) {
    std::unique_lock lk(m);
    return cv.wait_for(lk, 10s, [&] { return running == n; });
  }
  bool waitDone(int n) {
    std::unique_lock lk(m);
    return cv.wait_for(lk, 10s, [&] { return done == n; });
  }
  void release() {
    std::lock_guard lk(m);
    open = true;
    cv.notify_all();
  }
};
}  // namespace

TEST_CASE("the pool starts no worker before work arrives, and one for one task", "[core][pool]") {
  ThreadPool pool(8);
  CHECK(pool.size() == 8);
  CHECK(pool.started() == 0);
  Gate g;
  pool.submit([&] { g.task(); });
  REQUIRE(g.waitRunning(1));
  CHECK(pool.started() == 1);
  g.release();
  REQUIRE(g.waitDone(1));
  // An idle worker takes the next task: none is added. (A task submitted while the worker
  // is still returning from the last one may start a second: more workers, never fewer.)
  auto until = std::chrono::steady_clock::now() + 10s;
  while (pool.idle() != 1 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  REQUIRE(pool.idle() == 1);
  pool.submit([&] { g.task(); });
  REQUIRE(g.waitDone(2));
  CHECK(pool.started() == 1);
}

TEST_CASE("blocking tasks each get a worker up to the limit, and the rest wait their turn", "[core][pool]") {
  ThreadPool pool(4);
  Gate g;
  for (int i = 0; i < 6; ++i) pool.submit([&] { g.task(); });
  REQUIRE(g.waitRunning(4));  // four at once: the limit
  CHECK(pool.started() == 4);
  g.release();
  REQUIRE(g.waitDone(6));  // the two queued ones ran on the same workers
  CHECK(pool.started() == 4);
}

TEST_CASE("tasks queued when the pool is destroyed still run", "[core][pool]") {
  std::atomic<int> ran{0};
  Gate g;
  {
    ThreadPool pool(1);
    pool.submit([&] { g.task(); });
    REQUIRE(g.waitRunning(1));
    for (int i = 0; i < 3; ++i) pool.submit([&] { ran++; });
    g.release();
  }
  CHECK(ran == 3);
}
