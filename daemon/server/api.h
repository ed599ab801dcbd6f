#pragma once
// The routes of CONTRACT.md's HTTP table, independent of the transport. Handlers never block
// the io thread: blocking calls (plan, events from SQLite) are offloaded to a thread pool and
// long waits (reconcile --wait) are callbacks that resume the coroutine.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "core/result.h"
#include "daemon/server/http_server.h"
#include "daemon/server/run_queue.h"
#include "daemon/server/status_render.h"
#include "daemon/server/event_stream_options.h"

namespace tend::daemon {

// A rendered /v1/status body, immutable once made: requests share it (no copy per request).
struct StatusBody {
  StatusBody() = default;
  StatusBody(const StatusBody&) = delete;
  StatusBody& operator=(const StatusBody&) = delete;
  ~StatusBody();
  std::string json;  // the body, ending in a newline
  std::string etag;  // strong validator of `json`, quoted ("\"…\"")
  int fd = -1;       // sealedMemfd(json) or -1; closed with the body
};

// What the API needs from the daemon (implemented by Controller; a test may fake it).
class ApiBackend {
 public:
  virtual ~ApiBackend() = default;
  virtual bool ready(std::string& why) const = 0;   // readyz
  virtual std::string metricsText() = 0;
  // Cached per state version; the same pointer while nothing changed. Renders when the cache
  // is stale, which for a large state takes long: the API calls it off the io thread.
  virtual std::shared_ptr<const StatusBody> statusBody() = 0;
  // The cached body when it is current, else null; never renders (cheap, any thread).
  virtual std::shared_ptr<const StatusBody> currentStatusBody() = 0;
  virtual Result<nlohmann::json> planJson() = 0;    // blocking
  virtual Result<nlohmann::json> eventsJson(int64_t since, int limit) = 0;  // blocking
  // Ids not known to the applied spec nor to recorded state.
  virtual std::vector<std::string> unknownResources(const std::vector<std::string>& ids) const = 0;
  virtual bool followsGit() const = 0;
  virtual void submit(Job job) = 0;
  // Grows whenever something is recorded (event, apply, run): streams look for new events
  // only when it moved. Cheap, any thread.
  virtual uint64_t changeGeneration() const { return 0; }
  // What /v1/status shows, as values (streams, the web page). Blocking.
  virtual StatusView statusView() = 0;
  // GET /v1/resources/ID: the resource, its dependencies up and down, the chain blocking it,
  // its latest events, and with `withPlan` its planned action and diff. Blocking; an error
  // whose message starts with "unknown resource" is a 404.
  virtual Result<nlohmann::json> resourceDetail(const std::string& id, bool withPlan) = 0;
  virtual Result<nlohmann::json> runsJson(int limit) = 0;  // newest first; blocking
  // GET /v1/explain/WHAT: what one app (or resource id) of the applied spec turns into, with
  // FILE:LINE sources (spec::explainJson). An error whose message starts with "no app or
  // resource" is a 404; "no spec" a 503.
  virtual Result<nlohmann::json> explainJson(const std::string& what) {
    (void)what;
    return makeError("no spec: explain is not served here");
  }
  // The newest events (of one resource, or all for ""), oldest first. Blocking.
  virtual Result<nlohmann::json> recentEventsJson(const std::string& resource, int limit) = 0;
};

struct ApiOptions {
  std::string token;          // "" = mutating calls refused on TCP
  std::string webhookSecret;  // "" = git hooks refused on TCP
  // How long a reconcile without wait waits for its run to start before answering 202 without
  // a run id (a pass already running delays it).
  std::chrono::milliseconds startWait{2000};
  // GET /v1/plan observes every provider (one round of requests to every Docker host, named,
  // ...) and needs no token: concurrent requests share one observation, and its result
  // answers further TCP requests for this long (a reconcile through the API ends it sooner).
  std::chrono::milliseconds planReuse{2000};
  // Events, runs, a resource and explain answers are reused while nothing was recorded, for at
  // most this long; 0 computes every request. At most readCacheEntries targets are kept.
  std::chrono::milliseconds readReuse{500};
  std::size_t readCacheEntries = 256;
  StreamOptions stream;  // GET /v1/events as server-sent events
};

class EventHub;

// The answer to a read route, shared by the requests a cached one serves.
struct ReadAnswer {
  int status = 200;
  std::shared_ptr<const std::string> body;  // JSON text ending in a newline
};

class Api {
 public:
  Api(ApiBackend& backend, ApiOptions opts, boost::asio::thread_pool& blocking);
  boost::asio::awaitable<Response> handle(Request req, Transport t);

 private:
  boost::asio::awaitable<Response> reconcile(const Request& req, Transport t);
  boost::asio::awaitable<Response> gitHook(const Request& req, Transport t);
  boost::asio::awaitable<Result<nlohmann::json>> sharedPlan(bool reuse);
  boost::asio::awaitable<Response> events(const Request& req, std::map<std::string, std::string>& query);
  boost::asio::awaitable<Response> web(const Request& req, const std::string& path,
                                       const std::map<std::string, std::string>& query);
  // A read answer (events, runs, a resource, explain): the blocking `compute` runs on the pool
  // only when nothing cached for `key` is current (see ReadEntry); concurrent misses share one.
  boost::asio::awaitable<Response> cachedRead(const std::string& key,
                                              const std::function<ReadAnswer()>& compute);
  ApiBackend& backend_;
  ApiOptions opts_;
  boost::asio::thread_pool& blocking_;
  // Plan coalescing; touched on the io thread only.
  // One computation in progress that later requests for the same answer wait for (api.cpp).
  template <class T>
  struct Flight;
  std::shared_ptr<Flight<Result<nlohmann::json>>> planFlight_;
  std::shared_ptr<const Result<nlohmann::json>> planLast_;
  std::chrono::steady_clock::time_point planLastAt_{};
  std::shared_ptr<EventHub> hub_;
  // Read answers by request target; touched on the io thread only. An entry is current while
  // the backend's change generation has not moved (every event, apply and run moves it) and
  // for at most ApiOptions::readReuse (the engine's phases move without a write).
  struct ReadEntry {
    uint64_t generation = 0;
    std::chrono::steady_clock::time_point at{};
    std::shared_ptr<const ReadAnswer> value;  // null while the first computation runs
    std::shared_ptr<Flight<ReadAnswer>> flight;  // the computation in progress, if any
  };
  std::unordered_map<std::string, ReadEntry> reads_;
};

// JSON shape of a run result (also used by tendctl).
nlohmann::json runResultJson(const RunResult& r);
std::string isoTimeMs(int64_t unixMs);  // "" for 0

}  // namespace tend::daemon
