// The read routes' answers (/v1/events, /v1/runs, /v1/resources/ID, /v1/explain/WHAT) are
// computed once per change of the recorded state: the real HttpServer and Api over a backend
// that counts its calls and whose change generation the test moves.
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon/client/http_client.h"
#include "daemon/server/api.h"
#include "daemon/server/http_server.h"

namespace d = tend::daemon;
using json = nlohmann::json;

namespace {

class CountingBackend final : public d::ApiBackend {
 public:
  std::atomic<uint64_t> generation{1};
  std::atomic<int> delayMs{0};
  std::atomic<int> calls{0};
  std::mutex mu;
  std::map<std::string, int> byRoute;

  int count(const std::string& route) {
    std::lock_guard lk(mu);
    return byRoute[route];
  }

  bool ready(std::string&) const override { return true; }
  std::string metricsText() override { return "tend_up 1\n"; }
  std::shared_ptr<const d::StatusBody> statusBody() override { return nullptr; }
  std::shared_ptr<const d::StatusBody> currentStatusBody() override { return nullptr; }
  tend::Result<json> planJson() override { return json::array(); }
  tend::Result<json> eventsJson(int64_t since, int) override {
    note("events");
    return json::array({{{"id", since + 1}, {"generation", generation.load()}}});
  }
  std::vector<std::string> unknownResources(const std::vector<std::string>&) const override { return {}; }
  bool followsGit() const override { return false; }
  void submit(d::Job) override {}
  uint64_t changeGeneration() const override { return generation.load(); }
  d::StatusView statusView() override { return {}; }
  tend::Result<json> resourceDetail(const std::string& id, bool withPlan) override {
    note(withPlan ? "resource+plan" : "resource");
    if (id != "container/app/web") return tend::makeError("unknown resource " + id);
    return json{{"resource", {{"id", id}}}, {"generation", generation.load()}};
  }
  tend::Result<json> runsJson(int limit) override {
    note("runs");
    return json::array({{{"limit", limit}, {"generation", generation.load()}}});
  }
  tend::Result<json> explainJson(const std::string& what) override {
    note("explain");
    if (what == "broken") throw std::runtime_error("explain broke");
    return json::array({{{"what", what}, {"generation", generation.load()}}});
  }
  tend::Result<json> recentEventsJson(const std::string& resource, int limit) override {
    note("tail");
    return json::array({{{"resource", resource}, {"limit", limit}, {"generation", generation.load()}}});
  }

 private:
  void note(const std::string& route) {
    if (int ms = delayMs.load()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    calls++;
    std::lock_guard lk(mu);
    byRoute[route]++;
  }
};

struct Server {
  boost::asio::io_context io;
  boost::asio::thread_pool blocking{4};
  CountingBackend backend;
  std::unique_ptr<d::Api> api;
  std::unique_ptr<d::HttpServer> server;
  d::ClientTarget target;
  std::thread ioThread;

  explicit Server(std::chrono::milliseconds reuse = std::chrono::milliseconds(60000), std::size_t entries = 256) {
    d::ApiOptions ao;
    ao.readReuse = reuse;
    ao.readCacheEntries = entries;
    api = std::make_unique<d::Api>(backend, ao, blocking);
    server = std::make_unique<d::HttpServer>(
        io, [this](d::Request r, d::Transport t) { return api->handle(std::move(r), t); }, d::ServerOptions{});
    auto p = server->listenTcp("127.0.0.1:0");
    REQUIRE(p.ok());
    target.url = "http://127.0.0.1:" + std::to_string(*p);
    ioThread = std::thread([this] { io.run(); });
  }
  ~Server() {
    server->stopAccepting();
    io.stop();
    ioThread.join();
    blocking.join();
  }
  // The status and body of GET `path`.
  std::pair<int, std::string> get(const std::string& path) {
    auto r = d::httpCall(target, "GET", path);
    REQUIRE(r.ok());
    return {r->status, r->body};
  }
};

}  // namespace

TEST_CASE("read routes compute once while nothing was recorded, and again after a change",
          "[daemon][http][cache]") {
  Server s;
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/v1/runs?limit=5", "runs"},
      {"/v1/events?since=3", "events"},
      {"/v1/events?tail=50", "tail"},
      {"/v1/events?resource=container/app/web", "tail"},
      {"/v1/resources/container/app/web", "resource"},
      {"/v1/explain/app", "explain"},
  };
  for (const auto& [path, route] : routes) {
    INFO(path);
    const int before = s.backend.count(route);
    auto first = s.get(path);
    CHECK(first.first == 200);
    CHECK(s.get(path) == first);
    CHECK(s.get(path) == first);
    CHECK(s.backend.count(route) - before == 1);
  }
  // Different query values are different answers.
  CHECK(json::parse(s.get("/v1/runs?limit=7").second)[0]["limit"] == 7);
  CHECK(json::parse(s.get("/v1/events?since=9").second)[0]["id"] == 10);

  // Something was recorded: every route computes again, once, and shows it.
  s.backend.generation++;
  for (const auto& [path, route] : routes) {
    INFO(path);
    const int before = s.backend.count(route);
    auto again = s.get(path);
    CHECK(again.first == 200);
    CHECK(again.second.find("\"generation\":2") != std::string::npos);
    s.get(path);
    CHECK(s.backend.count(route) - before == 1);
  }
}

TEST_CASE("answers that observe or failed are never reused", "[daemon][http][cache]") {
  Server s;
  // ?plan=1 asks the providers: every request computes.
  CHECK(s.get("/v1/resources/container/app/web?plan=1").first == 200);
  CHECK(s.get("/v1/resources/container/app/web?plan=1").first == 200);
  CHECK(s.backend.count("resource+plan") == 2);
  // A 404 is computed each time (an id may appear with the next spec).
  CHECK(s.get("/v1/resources/container/app/none").first == 404);
  CHECK(s.get("/v1/resources/container/app/none").first == 404);
  CHECK(s.backend.count("resource") == 2);
  // A computation that threw is a 500 with a generic message, not kept.
  auto broken = s.get("/v1/explain/broken");
  CHECK(broken.first == 500);
  CHECK(json::parse(broken.second)["error"] == "internal error");
  CHECK(s.get("/v1/explain/broken").first == 500);
  CHECK(s.backend.count("explain") == 2);
  // The daemon keeps answering.
  CHECK(s.get("/healthz").first == 200);
}

TEST_CASE("a read answer is reused for at most readReuse, and 0 turns reuse off", "[daemon][http][cache]") {
  SECTION("bounded age") {
    Server s(std::chrono::milliseconds(50));
    s.get("/v1/runs?limit=5");
    s.get("/v1/runs?limit=5");
    CHECK(s.backend.count("runs") == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    s.get("/v1/runs?limit=5");
    CHECK(s.backend.count("runs") == 2);
  }
  SECTION("off") {
    Server s(std::chrono::milliseconds(0));
    for (int i = 0; i < 3; ++i) CHECK(s.get("/v1/runs?limit=5").first == 200);
    CHECK(s.backend.count("runs") == 3);
  }
}

TEST_CASE("concurrent requests for one read share one computation", "[daemon][http][cache]") {
  Server s;
  s.backend.delayMs = 300;
  std::vector<std::future<std::pair<int, std::string>>> calls;
  for (int i = 0; i < 16; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      auto r = d::httpCall(s.target, "GET", "/v1/explain/app");
      return r.ok() ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
    }));
  std::string body;
  for (auto& c : calls) {
    auto [status, b] = c.get();
    CHECK(status == 200);
    if (body.empty()) body = b;
    CHECK(b == body);
  }
  CHECK(s.backend.count("explain") == 1);
}

TEST_CASE("many distinct read targets keep at most readCacheEntries answers", "[daemon][http][cache]") {
  Server s(std::chrono::milliseconds(60000), 4);
  for (int i = 0; i < 10; ++i) CHECK(s.get("/v1/explain/app" + std::to_string(i)).first == 200);
  CHECK(s.backend.count("explain") == 10);
  // The first four were kept; the others were answered without being kept.
  s.get("/v1/explain/app0");
  s.get("/v1/explain/app3");
  CHECK(s.backend.count("explain") == 10);
  s.get("/v1/explain/app7");
  CHECK(s.backend.count("explain") == 11);
  // Once the kept ones are stale they make room.
  s.backend.generation++;
  s.get("/v1/explain/app7");
  s.get("/v1/explain/app7");
  CHECK(s.backend.count("explain") == 12);
}
