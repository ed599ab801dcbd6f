#include "daemon/server/api.h"

#include <unistd.h>

#include <ctime>
#include <map>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log.h"
#include "daemon/server/auth.h"
#include "daemon/server/event_stream.h"
#include "daemon/server/offload.h"
#include "daemon/server/web.h"

namespace tend::daemon {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using json = nlohmann::json;

StatusBody::~StatusBody() {
  if (fd >= 0) ::close(fd);
}

std::string isoTimeMs(int64_t unixMs) {
  if (unixMs <= 0) return "";
  std::time_t t = static_cast<std::time_t>(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unixMs % 1000));
  return buf;
}

json runResultJson(const RunResult& r) {
  return json{{"run_id", r.runId},
              {"result", r.result},
              {"started", isoTimeMs(r.startedUnixMs)},
              {"finished", isoTimeMs(r.finishedUnixMs)},
              {"ready", r.ready},
              {"failed", r.failed},
              {"blocked", r.blocked},
              {"changed", r.changed}};
}

namespace {

Response make(http::status s, std::string body, const char* type = "application/json") {
  Response res{s, 11};
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

Response jsonResponse(http::status s, const json& j) {
  return make(s, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

Response errorResponse(http::status s, const std::string& message) {
  return jsonResponse(s, json{{"error", message}});
}

ReadAnswer readAnswer(http::status s, const json& j) {
  ReadAnswer a;
  a.status = static_cast<int>(s);
  a.body = std::make_shared<const std::string>(j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  return a;
}

ReadAnswer readError(http::status s, const std::string& message) {
  return readAnswer(s, json{{"error", message}});
}

Response readResponse(const ReadAnswer& a) {
  Response res{static_cast<http::status>(a.status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body().share(a.body);
  return res;
}

struct Route {
  const char* path;
  http::verb method;
  bool mutating;
};

// A path ending in '/' (other than "/") is a prefix: /v1/resources/ID, /ui/ASSET.
const Route kRoutes[] = {
    {"/healthz", http::verb::get, false},       {"/readyz", http::verb::get, false},
    {"/metrics", http::verb::get, false},       {"/v1/status", http::verb::get, false},
    {"/v1/plan", http::verb::get, false},       {"/v1/events", http::verb::get, false},
    {"/v1/reconcile", http::verb::post, true},  {"/v1/hooks/git", http::verb::post, true},
    {"/v1/runs", http::verb::get, false},       {"/v1/resources/", http::verb::get, false},
    {"/v1/explain/", http::verb::get, false},
    {"/", http::verb::get, false},              {"/ui/", http::verb::get, false},
};

// %XX and '+' (in queries) decoded; false on a malformed escape.
bool percentDecode(std::string_view in, std::string& out, bool plusIsSpace) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plusIsSpace) {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int a = hex(in[i + 1]), b = hex(in[i + 2]);
      if (a < 0 || b < 0) return false;
      out += static_cast<char>(a * 16 + b);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

std::map<std::string, std::string> parseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    std::string k, v;
    if (eq == std::string_view::npos) {
      if (!percentDecode(part, k, true)) k = std::string(part);
    } else {
      if (!percentDecode(part.substr(0, eq), k, true)) k = std::string(part.substr(0, eq));
      if (!percentDecode(part.substr(eq + 1), v, true)) v = std::string(part.substr(eq + 1));
    }
    out[k] = v;
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

// If-None-Match: "*" or a list of entity tags, compared weakly (RFC 9110 13.1.2).
bool etagListMatches(std::string_view header, const std::string& etag) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  std::string_view want(etag);
  if (want.substr(0, 2) == "W/") want.remove_prefix(2);
  while (!header.empty()) {
    auto comma = header.find(',');
    auto tag = trim(header.substr(0, comma));
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && tag == want) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

bool parseInt(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoll(s);
  return true;
}

}  // namespace

Api::Api(ApiBackend& backend, ApiOptions opts, asio::thread_pool& blocking)
    : backend_(backend), opts_(std::move(opts)), blocking_(blocking),
      hub_(std::make_shared<EventHub>(backend, blocking, opts_.stream)) {}

// One computation in progress (a plan observation, a read answer); requests arriving meanwhile
// wait on its timer, set to never expire and cancelled once the value is in. Used on the io
// thread only.
template <class T>
struct Api::Flight {
  explicit Flight(const asio::any_io_executor& ex) : timer(ex) {
    timer.expires_at(asio::steady_timer::time_point::max());
  }
  awaitable<std::shared_ptr<const T>> wait() {
    boost::system::error_code ec;
    while (!value) co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    co_return value;
  }
  void finish(std::shared_ptr<const T> v) {
    value = std::move(v);
    timer.cancel();
  }
  asio::steady_timer timer;
  std::shared_ptr<const T> value;
};

awaitable<Result<json>> Api::sharedPlan(bool reuse) {
  if (reuse && planLast_ && std::chrono::steady_clock::now() - planLastAt_ < opts_.planReuse) co_return *planLast_;
  if (auto f = planFlight_) co_return *co_await f->wait();
  auto f = std::make_shared<Flight<Result<json>>>(co_await asio::this_coro::executor);
  planFlight_ = f;
  Result<json> r = makeError("internal error");
  try {
    const auto call1 = [this] { return backend_.planJson(); };
    r = co_await offload<Result<json>>(blocking_, call1);
  } catch (const std::exception& e) {
    log::error("http: plan failed", {{"error", e.what()}});
  }
  auto value = std::make_shared<const Result<json>>(std::move(r));
  if (planFlight_ == f) planFlight_.reset();
  if (value->ok()) {
    planLast_ = value;
    planLastAt_ = std::chrono::steady_clock::now();
  }
  f->finish(value);
  co_return *value;
}

awaitable<Response> Api::cachedRead(const std::string& key, const std::function<ReadAnswer()>& compute) {
  const uint64_t generation = backend_.changeGeneration();
  auto it = reads_.find(key);
  if (it != reads_.end()) {
    const ReadEntry& e = it->second;
    if (e.value && e.generation == generation && std::chrono::steady_clock::now() - e.at < opts_.readReuse)
      co_return readResponse(*e.value);
    if (auto f = e.flight) co_return readResponse(*co_await f->wait());
  }
  bool keep = opts_.readReuse.count() > 0;
  if (keep && it == reads_.end() && reads_.size() >= opts_.readCacheEntries) {
    // Full: drop what is no longer current; with every target still current, compute this one
    // without keeping it (many distinct targets must not grow memory).
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(reads_, [&](const auto& kv) {
      const ReadEntry& e = kv.second;
      return !e.flight && (e.generation != generation || now - e.at >= opts_.readReuse);
    });
    keep = reads_.size() < opts_.readCacheEntries;
  }
  std::shared_ptr<Flight<ReadAnswer>> flight;
  if (keep) {
    flight = std::make_shared<Flight<ReadAnswer>>(co_await asio::this_coro::executor);
    reads_[key].flight = flight;
  }
  std::shared_ptr<const ReadAnswer> value;
  try {
    value = std::make_shared<const ReadAnswer>(co_await offload<ReadAnswer>(blocking_, compute));
  } catch (const std::exception& e) {
    log::error("http: read failed", {{"target", key}, {"error", e.what()}});
    value = std::make_shared<const ReadAnswer>(readError(http::status::internal_server_error, "internal error"));
  }
  if (flight) {
    // Entries with a computation in flight are never erased: ours is still there.
    ReadEntry& e = reads_[key];
    e.flight.reset();
    if (value->status == 200) {
      e.value = value;
      e.generation = generation;
      // From the end of the computation: one that takes longer than readReuse (a huge state)
      // must not run again for every request.
      e.at = std::chrono::steady_clock::now();
    } else if (!e.value) {
      reads_.erase(key);
    }
    flight->finish(value);
  }
  co_return readResponse(*value);
}

awaitable<Response> Api::handle(Request req, Transport t) {
  std::string_view target(req.target().data(), req.target().size());
  auto qpos = target.find('?');
  std::string path(target.substr(0, qpos));
  auto query = parseQuery(qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1));

  const Route* route = nullptr;
  for (const auto& r : kRoutes) {
    std::string_view rp(r.path);
    if (path == rp || (rp.size() > 1 && rp.back() == '/' && path.size() > rp.size() && path.rfind(rp, 0) == 0))
      route = &r;
  }
  if (!route) co_return errorResponse(http::status::not_found, "no route " + path);
  if (req.method() != route->method) {
    auto res = errorResponse(http::status::method_not_allowed,
                             std::string("use ") + std::string(http::to_string(route->method)) + " " + path);
    res.set(http::field::allow, route->method == http::verb::get ? "GET" : "POST");
    co_return res;
  }

  Response res;
  try {
    if (path == "/healthz") {
      res = make(http::status::ok, "ok\n", "text/plain; charset=utf-8");
    } else if (path == "/readyz") {
      std::string why;
      bool ok = backend_.ready(why);
      res = make(ok ? http::status::ok : http::status::service_unavailable,
                 ok ? "ready\n" : "not ready: " + why + "\n", "text/plain; charset=utf-8");
    } else if (path == "/metrics") {
      res = make(http::status::ok, backend_.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/v1/status") {
      // Rendering (only when the state changed, or every 500 ms during a pass) runs on the
      // blocking pool: tens of thousands of resources take long enough to stall every other
      // request, /healthz included, if it ran here on the io thread.
      auto body = backend_.currentStatusBody();
      if (!body) {
        const auto call2 = [this] { return backend_.statusBody(); };
        body = co_await offload<std::shared_ptr<const StatusBody>>(blocking_, call2);
      }
      res = Response{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      // Clients may keep the body but must revalidate it: If-None-Match with the ETag gets a
      // 304 without a body while nothing changed.
      res.set(http::field::cache_control, "no-cache");
      res.set(http::field::etag, body->etag);
      auto inm = req[http::field::if_none_match];
      if (etagListMatches(std::string_view(inm.data(), inm.size()), body->etag))
        res.result(http::status::not_modified);
      else
        res.body().share(std::shared_ptr<const std::string>(body, &body->json), body->fd);
    } else if (path == "/v1/plan") {
      // The unix socket (the operator's tendctl) never gets a finished result again, only
      // one in progress: right after a spec edit, the plan must show it.
      auto plan = co_await sharedPlan(t == Transport::Tcp);
      res = plan.ok() ? jsonResponse(http::status::ok, *plan)
                      : errorResponse(http::status::service_unavailable, plan.error().message);
    } else if (path == "/v1/events") {
      res = co_await events(req, query);
    } else if (path == "/v1/runs") {
      int64_t limit = 20;
      if (query.count("limit") && (!parseInt(query["limit"], limit) || limit < 1 || limit > 1000))
        co_return errorResponse(http::status::bad_request, "limit must be between 1 and 1000");
      const std::function<ReadAnswer()> call3 = [this, limit] {
        auto runs = backend_.runsJson(static_cast<int>(limit));
        return runs.ok() ? readAnswer(http::status::ok, *runs)
                         : readError(http::status::internal_server_error, runs.error().message);
      };
      const std::string key3 = "runs " + std::to_string(limit);
      res = co_await cachedRead(key3, call3);
    } else if (path.rfind("/v1/resources/", 0) == 0) {
      std::string id;
      if (!percentDecode(std::string_view(path).substr(14), id, false))
        co_return errorResponse(http::status::bad_request, "malformed resource id in the path");
      const bool withPlan = query.count("plan") && query["plan"] != "0";
      const std::function<ReadAnswer()> call4 = [this, id, withPlan] {
        auto d = backend_.resourceDetail(id, withPlan);
        if (d.ok()) return readAnswer(http::status::ok, *d);
        if (d.error().message.rfind("unknown resource", 0) == 0) return readError(http::status::not_found, d.error().message);
        return readError(http::status::internal_server_error, d.error().message);
      };
      // With ?plan=1 the providers observe it: that answer is never reused.
      const std::string key4 = "resource " + id;
      if (withPlan) res = readResponse(co_await offload<ReadAnswer>(blocking_, call4));
      else res = co_await cachedRead(key4, call4);
    } else if (path.rfind("/v1/explain/", 0) == 0) {
      std::string what;
      if (!percentDecode(std::string_view(path).substr(12), what, false) || what.empty())
        co_return errorResponse(http::status::bad_request, "give an app name or a resource id: /v1/explain/WHAT");
      const std::function<ReadAnswer()> call5 = [this, what] {
        auto e = backend_.explainJson(what);
        if (e.ok()) return readAnswer(http::status::ok, *e);
        if (e.error().message.rfind("no app or resource", 0) == 0) return readError(http::status::not_found, e.error().message);
        return readError(http::status::service_unavailable, e.error().message);
      };
      const std::string key5 = "explain " + what;
      res = co_await cachedRead(key5, call5);
    } else if (path == "/" || path.rfind("/ui/", 0) == 0) {
      res = co_await web(req, path, query);
    } else if (path == "/v1/reconcile") {
      res = co_await reconcile(req, t);
    } else if (path == "/v1/hooks/git") {
      res = co_await gitHook(req, t);
    }
  } catch (const std::exception& e) {
    log::error("http: handler failed", {{"path", path}, {"error", e.what()}});
    res = errorResponse(http::status::internal_server_error, "internal error");
  }
  res.keep_alive(req.keep_alive());
  co_return res;
}

awaitable<Response> Api::events(const Request& req, std::map<std::string, std::string>& query) {
  int64_t since = 0, limit = 1000, tail = 0;
  if (query.count("since") && !parseInt(query["since"], since))
    co_return errorResponse(http::status::bad_request, "since must be a non-negative integer");
  if (query.count("limit") && (!parseInt(query["limit"], limit) || limit < 1 || limit > 10000))
    co_return errorResponse(http::status::bad_request, "limit must be between 1 and 10000");
  if (query.count("tail") && (!parseInt(query["tail"], tail) || tail < 1 || tail > 10000))
    co_return errorResponse(http::status::bad_request, "tail must be between 1 and 10000");
  auto accept = req[http::field::accept];
  const bool stream = (query.count("stream") && query["stream"] != "0") ||
                      std::string_view(accept.data(), accept.size()).find("text/event-stream") != std::string_view::npos;
  if (stream) {
    // EventSource reconnects with the id of the last event it saw.
    auto lei = req["Last-Event-ID"];
    int64_t last = 0;
    if (!lei.empty() && parseInt(std::string(lei), last)) since = std::max(since, last);
    if (hub_->full())
      co_return errorResponse(http::status::service_unavailable, "too many event streams open");
    const bool status = query.count("status") && query["status"] != "0";
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Accel-Buffering", "no");  // nginx and Caddy-style proxies: do not buffer
    res.set("X-Content-Type-Options", "nosniff");
    res.body().stream([hub = hub_, since, status](StreamSink& sink) { return hub->serve(sink, since, status); });
    co_return res;
  }
  if (tail > 0 || query.count("resource")) {
    // The newest events (of one resource): the page's and the TUI's history views.
    std::string resource = query.count("resource") ? query["resource"] : "";
    const int n = static_cast<int>(tail > 0 ? tail : 100);
    const std::function<ReadAnswer()> call5 = [this, resource, n] {
      auto ev = backend_.recentEventsJson(resource, n);
      return ev.ok() ? readAnswer(http::status::ok, *ev)
                     : readError(http::status::internal_server_error, ev.error().message);
    };
    const std::string key5 = "events tail " + std::to_string(n) + " " + resource;
    co_return co_await cachedRead(key5, call5);
  }
  const std::function<ReadAnswer()> call6 = [this, since, limit] {
    auto ev = backend_.eventsJson(since, static_cast<int>(limit));
    return ev.ok() ? readAnswer(http::status::ok, *ev)
                   : readError(http::status::internal_server_error, ev.error().message);
  };
  const std::string key6 = "events since " + std::to_string(since) + " " + std::to_string(limit);
  co_return co_await cachedRead(key6, call6);
}

awaitable<Response> Api::web(const Request& req, const std::string& path,
                             const std::map<std::string, std::string>& query) {
  (void)req;
  Response res{http::status::ok, 11};
  if (path == "/") {
    const auto call7 = [this, query] {
      return renderIndexPage(backend_.statusView(), query);
    };
    auto page = co_await offload<std::string>(blocking_, call7);
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(page);
  } else {
    const WebAsset* a = findWebAsset(std::string_view(path).substr(4));
    if (!a) co_return errorResponse(http::status::not_found, "no asset " + path);
    res.set(http::field::content_type, a->type);
    res.set(http::field::cache_control, "no-cache");
    res.body() = std::string(reinterpret_cast<const char*>(a->data), a->size);
  }
  res.set("Content-Security-Policy", kWebCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  co_return res;
}

awaitable<Response> Api::reconcile(const Request& req, Transport t) {
  if (t == Transport::Tcp) {
    if (opts_.token.empty())
      co_return errorResponse(http::status::forbidden,
                              "mutating calls over TCP need tendd --token-file; use the unix socket "
                              "(tendctl --socket) instead");
    auto auth = req[http::field::authorization];
    if (!bearerMatches(std::string(auth), opts_.token)) {
      log::warn("http: reconcile refused: missing or wrong bearer token", {{"transport", "tcp"}});
      auto res = errorResponse(http::status::unauthorized, "missing or wrong bearer token");
      res.set(http::field::www_authenticate, "Bearer");
      co_return res;
    }
  }
  Job job;
  job.trigger = "api";
  job.run = true;
  bool wait = false;
  if (!req.body().empty()) {
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object())
      co_return errorResponse(http::status::bad_request, "body must be a JSON object");
    for (auto& [k, v] : body.items())
      if (k != "resources" && k != "wait")
        co_return errorResponse(http::status::bad_request, "unknown key '" + k + "' (want resources, wait)");
    if (body.contains("wait")) {
      if (!body["wait"].is_boolean()) co_return errorResponse(http::status::bad_request, "wait must be a boolean");
      wait = body["wait"].get<bool>();
    }
    if (body.contains("resources")) {
      const auto& rs = body["resources"];
      if (!rs.is_array()) co_return errorResponse(http::status::bad_request, "resources must be a list of ids");
      std::vector<std::string> ids;
      for (const auto& r : rs) {
        if (!r.is_string()) co_return errorResponse(http::status::bad_request, "resources must be a list of ids");
        ids.push_back(r.get<std::string>());
      }
      if (!ids.empty()) {
        auto unknown = backend_.unknownResources(ids);
        if (!unknown.empty()) {
          std::string list;
          for (const auto& u : unknown) list += (list.empty() ? "" : ", ") + u;
          co_return jsonResponse(http::status::bad_request,
                                 json{{"error", "unknown resource ids: " + list}, {"unknown", unknown}});
        }
        job.resources = std::set<std::string>(ids.begin(), ids.end());
      }
    }
  }
  if (backend_.followsGit()) {
    // A push followed by `tendctl reconcile --now` applies the pushed commit.
    job.fetch = true;
    job.reload = true;
  }

  auto ex = co_await asio::this_coro::executor;
  struct Pending {
    asio::steady_timer timer;
    std::optional<int64_t> runId;
    std::optional<JobOutcome> outcome;
  };
  auto p = std::make_shared<Pending>(Pending{asio::steady_timer(ex), {}, {}});
  Waiter w;
  w.started = [p, ex](int64_t id) {
    asio::post(ex, [p, id] {
      p->runId = id;
      p->timer.cancel();
    });
  };
  w.finished = [p, ex](const JobOutcome& o) {
    asio::post(ex, [p, o] {
      p->outcome = o;
      p->timer.cancel();
    });
  };
  job.waiters.push_back(std::move(w));
  backend_.submit(std::move(job));
  planLast_.reset();  // the pass changes what a plan would say

  auto deadline = wait ? asio::steady_timer::time_point::max()
                       : asio::steady_timer::clock_type::now() + opts_.startWait;
  boost::system::error_code ec;
  while (!p->outcome && (wait || !p->runId)) {
    if (asio::steady_timer::clock_type::now() >= deadline) break;
    p->timer.expires_at(deadline);
    co_await p->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (p->outcome && !p->outcome->ran) {
    co_return errorResponse(http::status::service_unavailable,
                            p->outcome->error.empty() ? "no pass was run" : p->outcome->error);
  }
  if (wait) co_return jsonResponse(http::status::ok, runResultJson(p->outcome->result));
  json j{{"run_id", nullptr}, {"status", "queued"}};
  if (p->runId) j = json{{"run_id", *p->runId}, {"status", "started"}};
  else if (p->outcome) j = json{{"run_id", p->outcome->result.runId}, {"status", "finished"}};
  co_return jsonResponse(http::status::accepted, j);
}

awaitable<Response> Api::gitHook(const Request& req, Transport t) {
  if (!backend_.followsGit())
    co_return errorResponse(http::status::conflict, "tendd is not following a Git repository (--spec-git)");
  if (t == Transport::Tcp || !opts_.webhookSecret.empty()) {
    if (opts_.webhookSecret.empty())
      co_return errorResponse(http::status::forbidden,
                              "git hooks over TCP need tendd --webhook-secret-file");
    if (!webhookSignatureValid(opts_.webhookSecret, req.body(),
                               std::string(req["X-Hub-Signature-256"]),
                               std::string(req["X-Gitea-Signature"]))) {
      log::warn("http: git hook refused: bad or missing signature");
      co_return errorResponse(http::status::unauthorized, "bad or missing webhook signature");
    }
  }
  Job job;
  job.trigger = "git";
  job.fetch = true;
  job.reload = true;
  job.onlyIfChanged = true;
  backend_.submit(std::move(job));
  co_return jsonResponse(http::status::accepted, json{{"status", "fetching"}});
}

}  // namespace tend::daemon
