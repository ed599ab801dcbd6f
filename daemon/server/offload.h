#pragma once
// Runs a blocking call on a thread pool and resumes the awaiting coroutine on its own
// executor (the io thread never blocks on SQLite, a plan or a status render).
#include <exception>
#include <memory>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tend::daemon {

// `f` is taken by reference and copied before the first suspension: pass a named callable
// (GCC 12 mishandles class-type by-value parameters and argument temporaries of coroutines
// that have non-trivial destructors).
template <class T, class F>
boost::asio::awaitable<T> offload(boost::asio::thread_pool& pool, const F& f) {
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  struct Slot {
    asio::steady_timer timer;
    std::optional<T> value;
    std::exception_ptr err;
    bool done = false;
  };
  auto s = std::make_shared<Slot>(Slot{asio::steady_timer(ex), {}, {}, false});
  asio::post(pool, [s, ex, f]() mutable {
    std::optional<T> v;
    std::exception_ptr e;
    try {
      v.emplace(f());
    } catch (...) {  // handed to the awaiting coroutine, which rethrows it
      e = std::current_exception();
    }
    asio::post(ex, [s, v = std::move(v), e]() mutable {
      s->value = std::move(v);
      s->err = e;
      s->done = true;
      s->timer.cancel();
    });
  });
  boost::system::error_code ec;
  while (!s->done) {
    s->timer.expires_at(asio::steady_timer::time_point::max());
    co_await s->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (s->err) std::rethrow_exception(s->err);
  co_return std::move(*s->value);
}

}  // namespace tend::daemon
