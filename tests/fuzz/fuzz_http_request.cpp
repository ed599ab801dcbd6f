// Fuzzes tendd's HTTP request path end to end: the real HttpServer (Beast parser with tendd's
// header and body limits, deadlines, the Host check on TCP, the per-client and connection
// limits) and the real Api routes (query and JSON body parsing, bearer-token and webhook
// HMAC checks, reconcile with and without wait) over a fake backend. The first input byte
// picks the listener (even: TCP on 127.0.0.1, odd: the unix socket); the rest is written to a
// fresh connection, which is then half-closed, and the answer read to its end. Checks: the
// server answers or closes within its deadlines, a mutating route on TCP without the token
// never gets 2xx, and /healthz still answers after every input.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <openssl/crypto.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/server/api.h"
#include "daemon/server/http_server.h"
#include "tests/fuzz/fuzz_common.h"

namespace d = tend::daemon;

namespace {

class FakeBackend final : public d::ApiBackend {
 public:
  bool ready(std::string& why) const override {
    why = "fuzz";
    return true;
  }
  std::string metricsText() override { return "tend_up 1\n"; }
  std::shared_ptr<const d::StatusBody> statusBody() override { return body(); }
  std::shared_ptr<const d::StatusBody> currentStatusBody() override { return body(); }
  tend::Result<nlohmann::json> planJson() override { return nlohmann::json::array(); }
  tend::Result<nlohmann::json> eventsJson(int64_t since, int limit) override {
    return nlohmann::json::array({{{"id", since + 1}, {"type", "Fuzz"}}});
  }
  std::vector<std::string> unknownResources(const std::vector<std::string>& ids) const override {
    std::vector<std::string> out;
    for (const auto& id : ids)
      if (id != "container/app/web") out.push_back(id);
    return out;
  }
  bool followsGit() const override { return true; }
  d::StatusView statusView() override { return {}; }
  tend::Result<nlohmann::json> resourceDetail(const std::string& id, bool) override {
    if (id != "container/app/web") return tend::makeError("unknown resource " + id);
    return nlohmann::json{{"resource", {{"id", id}}}, {"events", nlohmann::json::array()}};
  }
  tend::Result<nlohmann::json> runsJson(int) override { return nlohmann::json::array(); }
  tend::Result<nlohmann::json> recentEventsJson(const std::string&, int) override { return nlohmann::json::array(); }
  void submit(d::Job job) override {
    // The run queue calls waiters on its runner thread.
    inFlight.fetch_add(1);
    std::thread([this, w = std::move(job.waiters)]() mutable {
      {
        // Moved here so the waiters (and what they hold of the server) are gone before the
        // count drops.
        auto waiters = std::move(w);
        tend::RunResult r;
        r.runId = 7;
        r.result = "success";
        for (const auto& x : waiters) {
          if (x.started) x.started(7);
          if (x.loaded) x.loaded();
          d::JobOutcome o;
          o.ran = true;
          o.result = r;
          if (x.finished) x.finished(o);
        }
      }
      inFlight.fetch_sub(1);
    }).detach();
  }

  // Runner threads still calling waiters (the fixture waits them out before it goes).
  std::atomic<int> inFlight{0};

 private:
  static std::shared_ptr<const d::StatusBody> body() {
    static auto b = [] {
      auto s = std::make_shared<d::StatusBody>();
      s->json = "{\"revision\":\"fuzz\",\"resources\":[]}\n";
      s->etag = "\"fuzz\"";
      return std::shared_ptr<const d::StatusBody>(s);
    }();
    return b;
  }
};

struct Fixture {
  boost::asio::io_context io;
  boost::asio::thread_pool blocking{2};
  FakeBackend backend;
  std::unique_ptr<d::Api> api;
  std::unique_ptr<d::HttpServer> server;
  unsigned short port = 0;
  std::string sock;
  std::thread ioThread;

  Fixture() {
    // OpenSSL's one-time setup (its config file) here on the main thread, not on the server's
    // io thread at the first webhook HMAC: the error state that setup allocates for its thread
    // is freed at exit for the main thread only (the io thread runs to the end).
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
    d::ApiOptions ao;
    ao.token = "fuzz-token-0123456789";
    ao.webhookSecret = "fuzz-webhook-secret";
    ao.startWait = std::chrono::milliseconds(200);
    api = std::make_unique<d::Api>(backend, ao, blocking);
    d::ServerOptions so;
    so.headerTimeout = std::chrono::milliseconds(500);
    so.idleTimeout = std::chrono::milliseconds(500);
    so.bodyTimeout = std::chrono::milliseconds(500);
    so.writeTimeout = std::chrono::milliseconds(500);
    so.allowedHosts = {"tend.lan", "*.home.test"};
    server = std::make_unique<d::HttpServer>(
        io, [this](d::Request r, d::Transport t) { return api->handle(std::move(r), t); }, so);
    auto p = server->listenTcp("127.0.0.1:0");
    sock = tend::fuzz::scratchDir() + "/tendd.sock";
    auto u = server->listenUnix(sock);
    if (!p || !u) {
      std::fprintf(stderr, "cannot listen\n");
      std::abort();
    }
    port = *p;
    ioThread = std::thread([this] { io.run(); });
  }

  // At exit (libFuzzer's -max_total_time ends with exit()): the io thread is stopped and
  // joined before the io_context it runs goes, and the runner threads finish first. A
  // detached io thread still inside io.run() while the static fixture was destroyed freed
  // sockets under it (a heap-use-after-free in the socket service at exit).
  ~Fixture() {
    io.stop();
    if (ioThread.joinable()) ioThread.join();
    blocking.join();
    while (backend.inFlight.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server.reset();
    api.reset();
  }

  int connect(bool unixSocket) const {
    int fd;
    if (unixSocket) {
      fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
    } else {
      fd = ::socket(AF_INET, SOCK_STREAM, 0);
      // From a different loopback address each time (127.1.0.1 ... 127.1.255.254): the client
      // half-closes first, so each exchange leaves it a TIME_WAIT for 60 s, and at 600
      // connections/s one source address would run out of ephemeral ports.
      static std::atomic<uint32_t> next{0};
      uint32_t n = next.fetch_add(1) % 65534 + 1;
      sockaddr_in from{};
      from.sin_family = AF_INET;
      from.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | n);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) std::abort();
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
    }
    return fd;
  }

  // Sends `req`, half-closes, reads until EOF; aborts when the server neither answers nor
  // closes within 5 s (its deadlines are 0.5 s).
  std::string exchange(bool unixSocket, std::string_view req) const {
    // libFuzzer's -timeout check is a SIGALRM every few seconds; it would interrupt connect,
    // send and poll here (EINTR). Held off on this thread, another takes it.
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    std::string out = exchangeUnmasked(unixSocket, req);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return out;
  }

  std::string exchangeUnmasked(bool unixSocket, std::string_view req) const {
    int fd = connect(unixSocket);
    size_t off = 0;
    while (off < req.size()) {
      ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server closed early (an error answer): fine
      off += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[8192];
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      int pr = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (pr < 0 && errno == EINTR) continue;  // libFuzzer's SIGALRM (its -timeout check)
      if (pr <= 0) {
        std::fprintf(stderr, "the server neither answered nor closed within 5 s (%s); got %zu bytes: %.200s\n",
                     unixSocket ? "unix" : "tcp", out.size(), out.c_str());
        std::abort();
      }
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
};

bool mutating(std::string_view req) {
  return req.rfind("POST ", 0) == 0 || req.rfind("PUT ", 0) == 0 || req.rfind("DELETE ", 0) == 0 ||
         req.rfind("PATCH ", 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  if (size == 0) return 0;
  bool unixSocket = data[0] & 1;
  std::string_view req(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string res = fx.exchange(unixSocket, req);
  // A mutating call over TCP without the token (or with a wrong one) is never accepted. The
  // git hook authenticates by its HMAC instead, which the fuzzer cannot forge.
  if (!unixSocket && mutating(req) && req.find("Bearer fuzz-token-0123456789") == std::string_view::npos &&
      res.rfind("HTTP/1.1 2", 0) == 0 && req.find(" /v1/hooks/git") == std::string_view::npos) {
    std::fprintf(stderr, "mutating request accepted on TCP without the token:\n%s\n", res.c_str());
    std::abort();
  }
  std::string h = fx.exchange(false, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  if (h.rfind("HTTP/1.1 200", 0) != 0) {
    std::fprintf(stderr, "/healthz did not answer 200 after the input: %s\n", h.c_str());
    std::abort();
  }
  return 0;
}
