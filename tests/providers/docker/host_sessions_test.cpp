// Docker's ssh:// endpoints go through the daemon's host sessions (core/host_sessions.h), the
// registry handed to providers in ProviderConfig: no global hook. A fake registry answers
// openStream with one end of a socketpair and serves the Docker API on the other end.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/host_sessions.h"
#include "providers/docker/docker_provider.h"
#include "providers/docker/engine_client.h"
#include "providers/docker/transport.h"

using namespace tend;
using namespace tend::docker;

namespace {

// Serves canned HTTP replies on the session's end of each stream it opens.
class FakeSessions final : public HostSessions {
 public:
  ~FakeSessions() override {
    for (auto& t : servers_) t.join();
  }
  Result<int> openStream(const HostAddress& host, const std::string& path,
                         std::chrono::steady_clock::time_point) override {
    {
      std::lock_guard lk(mu_);
      opened.push_back(host.describe() + " " + path);
    }
    if (refuse) return makeError("session to " + host.describe() + " refused", true);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return makeError("socketpair failed");
    servers_.emplace_back([this, fd = sv[1]] { serve(fd); });
    return sv[0];
  }
  Result<HostCommandResult> exec(const HostAddress&, const std::vector<std::string>&, const std::string&,
                                 std::chrono::milliseconds) override {
    return makeError("not used");
  }
  Result<std::optional<std::string>> readFile(const HostAddress&, const std::string&) override {
    return makeError("not used");
  }
  Result<void> writeFile(const HostAddress&, const std::string&, const std::string&, unsigned) override {
    return makeError("not used");
  }

  std::vector<std::string> opened;
  bool refuse = false;
  std::atomic<bool> hangLists{false};  // container lists get no answer (a hung dockerd)
  std::string apiVersion = "1.43";  // what the fake daemon speaks ("" = no Api-Version header)

  std::vector<std::string> requestLines() {
    std::lock_guard lk(mu_);
    return lines_;
  }

 private:
  // Answers each request on the stream until the client closes it. A daemon older than the
  // client's version refuses versioned paths as dockerd does (400, "is too new").
  void serve(int fd) {
    std::string buf;
    char chunk[4096];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<size_t>(n));
      size_t end;
      while ((end = buf.find("\r\n\r\n")) != std::string::npos) {
        std::string head = buf.substr(0, end);
        buf.erase(0, end + 4);
        {
          std::lock_guard lk(mu_);
          lines_.push_back(head.substr(0, head.find("\r\n")));
        }
        if (hangLists && head.find("/containers/json") != std::string::npos) continue;
        std::string body = head.find("/_ping") != std::string::npos ? "OK" : "{\"message\":\"fake\"}";
        int status = head.find("/_ping") != std::string::npos ? 200 : 404;
        if (head.find("/v1.41/") != std::string::npos && !apiVersion.empty() && compareApiVersions(apiVersion, "1.41") < 0) {
          status = 400;
          body = "{\"message\":\"client version 1.41 is too new. Maximum supported API version is " + apiVersion + "\"}";
        } else if (head.find("/v1.41/networks") != std::string::npos ||
                   head.find("/v1.41/containers/json") != std::string::npos) {
          status = 200;
          body = "[]";
        } else if (head.find("/v1.41/volumes") != std::string::npos) {
          status = 200;
          body = "{\"Volumes\":[]}";
        }
        std::string reply = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : status == 400 ? " Bad Request" : " Not Found") +
                            (apiVersion.empty() ? "" : "\r\nApi-Version: " + apiVersion) +
                            "\r\nContent-Type: text/plain\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
        if (::write(fd, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) break;
      }
    }
    ::close(fd);
  }

  std::mutex mu_;
  std::vector<std::thread> servers_;
  std::vector<std::string> lines_;
};

ApiResponse ping(EngineClient& c) {
  ApiRequest r;
  r.target = "/_ping";
  r.versioned = false;
  r.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  return c.call(r);
}

// A client of the fake daemon behind `sessions`, and a request to it with a 10 s deadline.
std::unique_ptr<EngineClient> clientOf(FakeSessions& sessions) {
  auto ep = parseEndpoint("ssh://admin@127.0.0.1:2222");
  REQUIRE(ep.ok());
  return std::make_unique<EngineClient>(*ep, makeConnector(*ep, &sessions));
}
ApiRequest request(const std::string& target, const std::string& method = "GET") {
  ApiRequest r;
  r.method = method;
  r.target = target;
  if (method == "POST") r.body = "{}";
  r.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  return r;
}

// A docker provider of environment `env` whose ssh:// endpoints go through `sessions`.
std::unique_ptr<Provider> providerOver(FakeSessions& sessions, const std::string& env) {
  ProviderConfig cfg;
  cfg.config = {{"transport", "ssh"}};
  cfg.environment = env;
  cfg.hostSessions = &sessions;
  auto made = makeDockerProvider(cfg);
  REQUIRE(made.ok());
  return std::move(made).value();
}

}  // namespace

TEST_CASE("docker over ssh:// opens its stream through the host sessions", "[docker][unit][sessions]") {
  FakeSessions sessions;
  auto ep = parseEndpoint("ssh://admin@127.0.0.1:2222");
  REQUIRE(ep.ok());
  {
    EngineClient c(*ep, makeConnector(*ep, &sessions));
    auto res = ping(c);
    INFO(res.error);
    CHECK(res.status == 200);
    CHECK(res.body == "OK");
  }
  REQUIRE(sessions.opened.size() == 1);
  CHECK(sessions.opened[0] == "ssh://admin@127.0.0.1:2222 /var/run/docker.sock");
}

TEST_CASE("a session that cannot be opened fails the call with its reason", "[docker][unit][sessions]") {
  FakeSessions sessions;
  sessions.refuse = true;
  auto ep = parseEndpoint("ssh://root@[::1]:22/run/user/docker.sock");
  REQUIRE(ep.ok());
  EngineClient c(*ep, makeConnector(*ep, &sessions));
  auto res = ping(c);
  CHECK(res.status == 0);
  CHECK(res.error.find("session to ssh://root@[::1]:22 refused") != std::string::npos);
  REQUIRE_FALSE(sessions.opened.empty());
  CHECK(sessions.opened[0] == "ssh://root@[::1]:22 /run/user/docker.sock");
}

TEST_CASE("the docker provider reaches ssh:// endpoints through ProviderConfig::hostSessions", "[docker][unit][sessions]") {
  FakeSessions sessions;
  auto p = providerOver(sessions, "sessions-test");
  DesiredResource d;
  d.id = "network/h1/n1";
  d.kind = "network";
  d.provider = "docker";
  d.host = "h1";
  d.spec = {{"endpoint", "ssh://ops@127.0.0.1:22"}, {"name", "n1"}, {"environment", "sessions-test"}};
  ObserveRequest req;
  req.desired = {&d};
  req.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  (void)p->observe(req);
  REQUIRE_FALSE(sessions.opened.empty());
  CHECK(sessions.opened[0] == "ssh://ops@127.0.0.1:22 /var/run/docker.sock");
}

TEST_CASE("the first versioned call asks for API 1.41 itself, with no /_ping before it", "[docker][unit][sessions]") {
  FakeSessions sessions;
  auto c = clientOf(sessions);
  auto first = c->call(request("/networks"));
  INFO(first.error);
  CHECK(first.ok());
  CHECK(first.body == "[]");
  CHECK(c->apiVersion() == "1.41");
  CHECK(c->call(request("/networks")).ok());
  auto lines = sessions.requestLines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "GET /v1.41/networks HTTP/1.1");
  CHECK(lines[1] == "GET /v1.41/networks HTTP/1.1");
}

TEST_CASE("a daemon older than API 1.41 is named with its version, on every call", "[docker][unit][sessions]") {
  FakeSessions sessions;
  sessions.apiVersion = "1.40";
  auto c = clientOf(sessions);
  for (int i = 0; i < 2; ++i) {
    auto res = c->call(request("/containers/create?name=x", "POST"));
    CHECK_FALSE(res.ok());
    CHECK(res.status == 0);
    CHECK(res.error == "docker at ssh://admin@127.0.0.1:2222 speaks API 1.40, tend needs at least 1.41");
    CHECK(c->apiVersion().empty());
  }
}

TEST_CASE("an answer without an Api-Version header is not taken for Docker's", "[docker][unit][sessions]") {
  FakeSessions sessions;
  sessions.apiVersion = "";
  auto c = clientOf(sessions);
  auto res = c->call(request("/networks"));
  CHECK_FALSE(res.ok());
  CHECK(res.error.find("without an API-Version header") != std::string::npos);
}

TEST_CASE("reads a prefetch began answer the next observe once, unless something was applied since",
          "[docker][unit][sessions][prefetch]") {
  FakeSessions sessions;
  auto made = providerOver(sessions, "prefetch-test");
  Provider& p = *made;
  DesiredResource d;
  d.id = "container/app/web";
  d.kind = "container";
  d.provider = "docker";
  d.host = "h1";
  d.spec = {{"endpoint", "ssh://ops@127.0.0.1:22"}, {"name", "app-web"}, {"image", "local/web:1"},
            {"environment", "prefetch-test"}};
  ObserveRequest req;
  req.desired = {&d};
  req.includeOwned = true;
  auto observe = [&] {
    req.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    return p.observe(req);
  };
  // How many times each kind of read reached the daemon.
  auto count = [&](const std::string& what) {
    int n = 0;
    for (const auto& l : sessions.requestLines())
      if (l.find(what) != std::string::npos) n++;
    return n;
  };
  const std::vector<std::string> reads = {"/containers/json?all=1&filters=%7B%22label", "/networks ", "/volumes ",
                                          "/images/local/web:1/json"};

  p.prefetch({&d});
  auto first = observe();
  CHECK(first.errors.empty());
  for (const auto& r : reads) {
    INFO(r);
    CHECK(count(r) == 1);  // the prefetch's read, taken by the observe: not sent again
  }
  // Taken once: the next observe reads again.
  observe();
  for (const auto& r : reads) CHECK(count(r) == 2);

  // An apply after the prefetch: its reads may predate what the apply changed, so the observe
  // makes its own.
  p.prefetch({&d});
  ApplyRequest ar;
  ar.action.id = "network/h1/gone";
  ar.action.kind = "network";
  ar.action.action = Action::Delete;
  ar.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  (void)p.apply(ar);
  observe();
  for (const auto& r : reads) {
    INFO(r);
    CHECK(count(r) == 4);  // the prefetch's and the observe's own
  }

  // A prefetch older than its freshness window is not taken either.
  p.prefetch({&d});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  observe();
  for (const auto& r : reads) CHECK(count(r) == 6);
}

TEST_CASE("an observe that took a prefetched read still ends when its call is cancelled",
          "[docker][unit][sessions][prefetch]") {
  FakeSessions sessions;
  sessions.hangLists = true;  // the prefetched container list never comes back
  auto made = providerOver(sessions, "prefetch-cancel");
  Provider& p = *made;
  DesiredResource d;
  d.id = "container/app/web";
  d.kind = "container";
  d.provider = "docker";
  d.host = "h1";
  d.spec = {{"endpoint", "ssh://ops@127.0.0.1:22"}, {"name", "app-web"}, {"image", "local/web:1"},
            {"environment", "prefetch-cancel"}};
  p.prefetch({&d});
  ObserveRequest req;
  req.desired = {&d};
  req.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto cancel = CancelSignal::make();
  req.ctx.cancel = cancel;
  std::thread canceller([cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel->cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto res = p.observe(req);
  const auto took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  // Ended by the cancellation, not by the prefetch's own 30 s deadline.
  CHECK(took < std::chrono::seconds(5));
  REQUIRE(res.errors.count(d.id) == 1);
  CHECK(res.errors.at(d.id).message.find("cancelled") != std::string::npos);
  // The list was sent once (by the prefetch), not again by the observe.
  int lists = 0;
  for (const auto& l : sessions.requestLines())
    if (l.find("/containers/json") != std::string::npos) lists++;
  CHECK(lists == 1);
}
