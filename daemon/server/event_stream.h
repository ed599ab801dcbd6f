#pragma once
// GET /v1/events as server-sent events (text/event-stream): the recorded events after
// `since` (or Last-Event-ID), oldest first, each with its event id, then new ones as they are
// recorded; with `status=1` also `event: status` messages: one full snapshot of the resources
// first, then only the resources that changed. tendctl events --follow, tendctl ui and the web
// page read it.
//
// Each client pulls its own events from the store (a batch at a time, only when the store's
// generation moved), so a slow reader costs no memory: it just lags. Resource changes are
// computed once per interval for all clients and merged into each client's pending set
// (bounded by the number of resources); a client whose pending changes pass the byte limit,
// or that does not take a write within the write timeout, is dropped (it reconnects with
// Last-Event-ID and misses nothing). The io thread never blocks: reads run on the pool.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/server/api.h"
#include "daemon/server/event_stream_options.h"
#include "daemon/server/http_server.h"

namespace tend::daemon {

class EventHub : public std::enable_shared_from_this<EventHub> {
 public:
  EventHub(ApiBackend& backend, boost::asio::thread_pool& pool, StreamOptions opts = {});
  // Serves one client until it goes away or is dropped.
  boost::asio::awaitable<void> serve(StreamSink& sink, int64_t since, bool status);
  bool full() const { return clients_.size() >= opts_.maxClients; }
  std::size_t clients() const { return clients_.size(); }

  struct Snapshot;

 private:
  struct Client;
  boost::asio::awaitable<void> ticker();

  ApiBackend& backend_;
  boost::asio::thread_pool& pool_;
  StreamOptions opts_;
  // io thread only
  std::set<std::shared_ptr<Client>> clients_;
  bool tickerRunning_ = false;
  uint64_t lastGen_ = 0;
  std::chrono::steady_clock::time_point lastStatus_{};
  std::shared_ptr<const Snapshot> prev_;
};

// One SSE message: "id: ID\n" (when id > 0), "event: TYPE\n" (when not ""), data lines.
std::string sseMessage(int64_t id, const std::string& type, const std::string& data);

}  // namespace tend::daemon
