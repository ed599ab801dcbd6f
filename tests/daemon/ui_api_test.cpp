// The routes the UIs read: /v1/events as server-sent events (ids, resume, status snapshot and
// changes, a slow reader dropped without blocking the daemon), /v1/resources/ID, /v1/runs,
// and the web page (escaping, headers).
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>

#include <catch2/catch.hpp>

#include "daemon/server/web.h"
#include "tests/daemon/fixture.h"

using namespace tend;
using json = nlohmann::json;

namespace {

// Reads the stream until `until` returns true for the messages so far (or 10 s pass).
std::vector<daemon::SseMessage> readStream(const daemon::ClientTarget& t, const std::string& target,
                                           const std::function<bool(const std::vector<daemon::SseMessage>&)>& until) {
  std::vector<daemon::SseMessage> got;
  auto r = daemon::httpStream(t, target, [&](const daemon::SseMessage& m) {
    got.push_back(m);
    return !until(got);
  }, std::chrono::seconds(10), std::chrono::seconds(10));
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  return got;
}

int countEvents(const std::vector<daemon::SseMessage>& ms) {
  int n = 0;
  for (const auto& m : ms) n += m.event.empty() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("event stream: events with ids, resume after an id, status snapshot then changes", "[daemon][ui]") {
  test::RunningDaemon d({});
  auto plain = d.get("/v1/events?since=0");
  REQUIRE(plain.ok());
  REQUIRE(plain->status == 200);
  json list = json::parse(plain->body);
  REQUIRE(list.is_array());
  REQUIRE(list.size() >= 2);  // SpecApplied, RunFinished

  // From the start: every recorded event, oldest first, each with its id.
  auto all = readStream(d.uds(), "/v1/events?since=0", [&](const auto& ms) {
    return countEvents(ms) >= static_cast<int>(list.size());
  });
  std::vector<int64_t> ids;
  for (const auto& m : all)
    if (m.event.empty()) {
      json e = json::parse(m.data);
      CHECK(e["id"].get<int64_t>() == m.id);
      ids.push_back(m.id);
    }
  REQUIRE(ids.size() == list.size());
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == list[i]["id"].get<int64_t>());

  // Resume after the first: the rest only; then a new event arrives live.
  const int64_t first = ids.front();
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    daemon::httpCall(d.uds(), "POST", "/v1/reconcile", "{\"wait\":true}");
  });
  auto resumed = readStream(d.tcp(), "/v1/events?since=" + std::to_string(first) + "&stream=1", [&](const auto& ms) {
    for (const auto& m : ms)
      if (m.event.empty() && json::parse(m.data)["id"].template get<int64_t>() > ids.back()) return true;
    return false;
  });
  later.join();
  REQUIRE(!resumed.empty());
  CHECK(resumed.front().id == ids[1]);

  // status=1: a full snapshot first (the resources with tier and app), over TCP without a token.
  auto st = readStream(d.tcp(), "/v1/events?stream=1&status=1&since=999999", [](const auto& ms) {
    for (const auto& m : ms)
      if (m.event == "status") return true;
    return false;
  });
  json snap;
  for (const auto& m : st)
    if (m.event == "status") snap = json::parse(m.data);
  CHECK(snap["full"] == true);
  REQUIRE(snap["resources"].size() == 2);
  CHECK(snap["resources"][0].contains("tier"));
  CHECK(snap["resources"][0]["app"] == "app");
  CHECK(snap["head"].contains("revision"));
}

TEST_CASE("event stream: a client that does not read is dropped, the daemon keeps answering", "[daemon][ui]") {
  test::RunningDaemon::Setup s;
  std::string spec;
  for (int i = 0; i < 60000; ++i) spec += "container/app" + std::to_string(i) + "/web-with-a-long-name\n";
  s.spec = spec;
  s.writeTimeout = std::chrono::milliseconds(500);
  test::RunningDaemon d(s);
  // A raw client asks for the status stream (a ~9 MB snapshot) and reads nothing.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(d.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::string req = "GET /v1/events?stream=1&status=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  // Meanwhile the daemon answers at once.
  auto t0 = std::chrono::steady_clock::now();
  auto h = d.get("/healthz");
  REQUIRE(h.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
  // The stuck stream was closed: draining it ends in EOF, not in an endless stream.
  char buf[65536];
  bool eof = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      eof = true;
      break;
    }
  }
  ::close(fd);
  CHECK(eof);
}

TEST_CASE("resource detail, runs and recent events of one resource", "[daemon][ui]") {
  test::RunningDaemon d({});
  auto r = d.get("/v1/resources/container/app/web");
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  json j = json::parse(r->body);
  CHECK(j["resource"]["id"] == "container/app/web");
  CHECK(j["resource"]["phase"] == "ready");
  CHECK(j["dependencies"].is_array());
  CHECK(j["dependents"].is_array());
  CHECK(j["blocked_by"].empty());
  CHECK(j["events"].is_array());
  auto p = d.get("/v1/resources/container/app/web?plan=1");
  REQUIRE(p.ok());
  CHECK(json::parse(p->body)["plan"]["action"] == "noop");
  auto missing = d.get("/v1/resources/container/nope/x");
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);
  auto runs = d.get("/v1/runs?limit=5");
  REQUIRE(runs.ok());
  json rs = json::parse(runs->body);
  REQUIRE(rs.is_array());
  REQUIRE(!rs.empty());
  CHECK(rs[0].contains("trigger"));
  auto tail = d.get("/v1/events?tail=1");
  REQUIRE(tail.ok());
  CHECK(json::parse(tail->body).size() == 1);
  CHECK(d.get("/v1/events?tail=0")->status == 400);
}

TEST_CASE("web page: everything from the status is escaped, strict headers, assets embedded", "[daemon][ui]") {
  daemon::StatusView v;
  v.environment = "lab<script>";
  v.revision = "r1";
  ResourceStatus s;
  s.id = "container/app/web";
  s.kind = "container";
  s.phase = "failed";
  s.message = "<img src=x onerror=alert(1)> & \"quoted\"";
  v.resources.push_back(s);
  v.specErrors.push_back("apps.yml:1:1: <b>bad</b>");
  // Unfiltered: the resource's message is in the table, escaped.
  std::string all = daemon::renderIndexPage(v, {});
  CHECK(all.find("<img src=x") == std::string::npos);
  CHECK(all.find("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot;") != std::string::npos);
  // A filter (which matches nothing here) is echoed escaped.
  std::string page = daemon::renderIndexPage(v, {{"q", "\"><script>alert(2)</script>"}});
  CHECK(page.find("<img src=x") == std::string::npos);
  CHECK(page.find("<b>bad</b>") == std::string::npos);
  CHECK(page.find("lab<script>") == std::string::npos);
  CHECK(page.find("<script>alert(2)") == std::string::npos);
  CHECK(page.find("id=\"resource-table\"") != std::string::npos);
  REQUIRE(daemon::findWebAsset("app.js") != nullptr);
  REQUIRE(daemon::findWebAsset("app.css") != nullptr);
  CHECK(daemon::findWebAsset("../api.cpp") == nullptr);

  test::RunningDaemon d({});
  auto r = daemon::httpCall(d.tcp(), "GET", "/");
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->contentType == "text/html; charset=utf-8");
  CHECK(r->body.find("container/app/web") != std::string::npos);
}
