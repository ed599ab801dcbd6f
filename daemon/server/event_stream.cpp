#include "daemon/server/event_stream.h"

#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "core/log.h"
#include "core/secrets.h"
#include "daemon/server/offload.h"

namespace tend::daemon {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using json = nlohmann::json;

std::string sseMessage(int64_t id, const std::string& type, const std::string& data) {
  std::string m;
  m.reserve(data.size() + 32);
  if (id > 0) m += "id: " + std::to_string(id) + "\n";
  if (!type.empty()) m += "event: " + type + "\n";
  // A data line per line of the payload (JSON dumps have none, messages may).
  std::size_t pos = 0;
  for (;;) {
    auto nl = data.find('\n', pos);
    m += "data: ";
    m.append(data, pos, nl == std::string::npos ? std::string::npos : nl - pos);
    m += '\n';
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  m += '\n';
  return m;
}

// The resources as the status shows them, one redacted JSON text each, in status order.
struct EventHub::Snapshot {
  std::string head;
  std::vector<std::pair<std::string, std::string>> resources;
  std::unordered_map<std::string, std::size_t> index;
};

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

struct Round {
  std::shared_ptr<const EventHub::Snapshot> snap;
  bool headChanged = false;
  std::vector<std::size_t> changed;  // positions in snap->resources
  std::vector<std::string> removed;
};

Round computeRound(ApiBackend& b, std::shared_ptr<const EventHub::Snapshot> prev) {
  StatusView v = b.statusView();
  auto s = std::make_shared<EventHub::Snapshot>();
  auto& red = Redactor::instance();
  s->head = red.redact(dump(renderStatusHead(v)));
  s->resources.reserve(v.resources.size());
  for (const auto& r : v.resources) {
    s->index.emplace(r.id, s->resources.size());
    s->resources.emplace_back(r.id, red.redact(dump(renderResourceJson(r, v.graph.get()))));
  }
  Round out;
  if (prev) {
    out.headChanged = prev->head != s->head;
    for (std::size_t i = 0; i < s->resources.size(); ++i) {
      auto it = prev->index.find(s->resources[i].first);
      if (it == prev->index.end() || prev->resources[it->second].second != s->resources[i].second)
        out.changed.push_back(i);
    }
    for (const auto& [id, text] : prev->resources)
      if (!s->index.count(id)) out.removed.push_back(id);
  }
  out.snap = std::move(s);
  return out;
}

std::string fullMessage(const EventHub::Snapshot& s) {
  std::string d = "{\"full\":true,\"head\":" + s.head + ",\"resources\":[";
  for (std::size_t i = 0; i < s.resources.size(); ++i) {
    if (i) d += ',';
    d += s.resources[i].second;
  }
  d += "]}";
  return sseMessage(0, "status", d);
}

}  // namespace

struct EventHub::Client {
  explicit Client(const asio::any_io_executor& ex, bool st) : wake(ex), wantStatus(st) {}
  asio::steady_timer wake;
  bool wantStatus;
  bool needFull = true;
  std::string full;                            // a pending full snapshot message
  std::map<std::string, std::string> changed;  // id -> resource JSON, pending
  std::set<std::string> removed;
  std::string head;                            // pending head, "" when unchanged
  std::size_t pendingBytes = 0;
  bool dropped = false;
  bool statusPending() const { return !full.empty() || !changed.empty() || !removed.empty() || !head.empty(); }
};

EventHub::EventHub(ApiBackend& backend, asio::thread_pool& pool, StreamOptions opts)
    : backend_(backend), pool_(pool), opts_(opts) {}

awaitable<void> EventHub::ticker() {
  auto self = shared_from_this();
  asio::steady_timer t(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  while (!clients_.empty()) {
    t.expires_after(opts_.poll);
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    if (clients_.empty()) break;
    const uint64_t gen = backend_.changeGeneration();
    if (gen != lastGen_) {
      lastGen_ = gen;
      for (auto& c : clients_) c->wake.cancel();  // they fetch their new events themselves
    }
    bool anyStatus = false, anyFull = false;
    for (auto& c : clients_) {
      anyStatus = anyStatus || c->wantStatus;
      anyFull = anyFull || (c->wantStatus && c->needFull);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!anyStatus || (!anyFull && now - lastStatus_ < opts_.statusEvery)) continue;
    lastStatus_ = now;
    Round r;
    const auto compute = [this, prev = prev_] { return computeRound(backend_, prev); };
    try {
      r = co_await offload<Round>(pool_, compute);
    } catch (const std::exception& e) {
      log::warn("event stream: cannot read the status", {{"error", e.what()}});
      continue;
    }
    const Snapshot& s = *r.snap;
    std::string fullMsg;
    for (auto& c : clients_) {
      if (!c->wantStatus) continue;
      if (c->needFull || !prev_) {
        if (fullMsg.empty()) fullMsg = fullMessage(s);
        c->needFull = false;
        c->full = fullMsg;
        c->changed.clear();
        c->removed.clear();
        c->head.clear();
        c->pendingBytes = 0;
      } else {
        if (r.headChanged) c->head = s.head;
        for (auto i : r.changed) {
          const auto& [id, text] = s.resources[i];
          c->removed.erase(id);
          auto [it, fresh] = c->changed.try_emplace(id, text);
          if (!fresh) {
            c->pendingBytes -= it->second.size();
            it->second = text;
          }
          c->pendingBytes += text.size() + id.size();
        }
        for (const auto& id : r.removed) {
          if (auto it = c->changed.find(id); it != c->changed.end()) {
            c->pendingBytes -= it->second.size() + id.size();
            c->changed.erase(it);
          }
          c->removed.insert(id);
          c->pendingBytes += id.size();
        }
        if (c->pendingBytes > opts_.clientPendingBytes) c->dropped = true;
      }
      if (c->statusPending() || c->dropped) c->wake.cancel();
    }
    prev_ = r.snap;
  }
  tickerRunning_ = false;
  prev_.reset();  // a new first client gets a fresh snapshot
}

awaitable<void> EventHub::serve(StreamSink& sink, int64_t since, bool status) {
  auto self = shared_from_this();
  auto ex = co_await asio::this_coro::executor;
  auto c = std::make_shared<Client>(ex, status);
  clients_.insert(c);
  if (!tickerRunning_) {
    tickerRunning_ = true;
    asio::co_spawn(ex, ticker(), [](std::exception_ptr e) {
      if (e) log::error("event stream ticker ended with an exception");
    });
  }
  struct Leave {  // unregister however the loop ends
    EventHub* hub;
    std::shared_ptr<Client> c;
    ~Leave() { hub->clients_.erase(c); }
  } leave{this, c};

  int64_t lastId = since;
  uint64_t seenGen = 0;  // 0: fetch once at start
  // Messages are named locals: see StreamSink::write.
  const std::string preamble = "retry: 2000\n: tendd event stream\n\n";
  const std::string dropped = ": dropped: too far behind, reconnect with Last-Event-ID\n\n";
  const std::string keepAlive = ": keep-alive\n\n";
  std::string m;
  bool ok = co_await sink.write(preamble);
  boost::system::error_code ec;
  while (ok) {
    if (c->dropped) {
      log::info("event stream: client too far behind, dropped");
      co_await sink.write(dropped);
      break;
    }
    if (!c->full.empty()) {
      m = std::move(c->full);
      c->full.clear();
      ok = co_await sink.write(m);
      continue;
    }
    if (c->statusPending()) {
      std::string d = "{\"full\":false";
      if (!c->head.empty()) d += ",\"head\":" + c->head;
      d += ",\"resources\":[";
      bool first = true;
      for (const auto& [id, text] : c->changed) {
        if (!first) d += ',';
        first = false;
        d += text;
      }
      d += "],\"removed\":" + dump(json(std::vector<std::string>(c->removed.begin(), c->removed.end()))) + "}";
      c->changed.clear();
      c->removed.clear();
      c->head.clear();
      c->pendingBytes = 0;
      m = sseMessage(0, "status", d);
      ok = co_await sink.write(m);
      continue;
    }
    const uint64_t gen = backend_.changeGeneration();
    if (gen != seenGen) {
      const int batch = opts_.eventBatch;
      Result<json> evs = makeError("");
      const auto fetch = [this, lastId, batch] { return backend_.eventsJson(lastId, batch); };
      try {
        evs = co_await offload<Result<json>>(pool_, fetch);
      } catch (const std::exception& e) {
        evs = makeError(e.what());
      }
      if (!evs.ok()) {
        log::warn("event stream: cannot read events", {{"error", evs.error().message}});
        break;
      }
      m.clear();
      for (const auto& e : *evs) {
        const int64_t id = e.value("id", int64_t{0});
        m += sseMessage(id, "", dump(e));
        lastId = std::max(lastId, id);
      }
      if (static_cast<int>(evs->size()) < batch) seenGen = gen;
      if (!m.empty()) ok = co_await sink.write(m);
      continue;
    }
    c->wake.expires_after(opts_.keepAlive);
    co_await c->wake.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!ec) ok = co_await sink.write(keepAlive);
  }
}

}  // namespace tend::daemon
