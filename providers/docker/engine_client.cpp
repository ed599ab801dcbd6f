#include "providers/docker/engine_client.h"

#include <deque>
#include <limits>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/secrets.h"

namespace tend::docker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
// Longest Docker error text kept in a message (a stack trace or an HTML page is noise).
constexpr size_t kMaxErrorText = 500;
}  // namespace

using Stream = beast::basic_stream<asio::generic::stream_protocol, asio::any_io_executor>;

std::string ApiResponse::errorText() const {
  if (!error.empty()) return Redactor::instance().redact(error);
  // Redacted before it is cut: a secret the daemon echoes (an env value in a create error)
  // and that the cut splits would no longer be recognised, and its first half would leak.
  std::string msg;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    msg = Redactor::instance().redact(j["message"].get<std::string>());
  else
    msg = Redactor::instance().redact(body);
  if (msg.size() > kMaxErrorText) msg = msg.substr(0, kMaxErrorText) + "...";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  return "docker: " + msg + " (HTTP " + std::to_string(status) + ")";
}

int compareApiVersions(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& s) {
    std::vector<int> v;
    std::stringstream ss(s);
    std::string p;
    while (std::getline(ss, p, '.')) {
      try {
        v.push_back(std::stoi(p));
      } catch (const std::exception&) {
        v.push_back(0);
      }
    }
    return v;
  };
  auto x = parts(a), y = parts(b);
  for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    int l = i < x.size() ? x[i] : 0, r = i < y.size() ? y[i] : 0;
    if (l != r) return l < r ? -1 : 1;
  }
  return 0;
}

namespace {
thread_local std::shared_ptr<const CancelSignal> tlsCancel;
}

CancelScope::CancelScope(std::shared_ptr<const CancelSignal> s) : prev_(std::move(tlsCancel)) {
  tlsCancel = std::move(s);
}
CancelScope::~CancelScope() { tlsCancel = std::move(prev_); }
std::shared_ptr<const CancelSignal> CancelScope::current() { return tlsCancel; }

struct EngineClient::Conn {
  // Beast reads into what the buffer has room for, at least 512 bytes; an empty buffer that
  // the parser drains after every read stays at 512, so a 75 KB container list took 150 reads
  // (each one a wakeup and a timer re-arm). Room for 64 KiB makes that two or three.
  explicit Conn(StreamSocket&& s) : stream(std::move(s)) { buf.reserve(kReadChunk); }
  static constexpr size_t kReadChunk = 64 * 1024;
  Stream stream;
  beast::flat_buffer buf;
};

// What a cancellation reaches: the connection whose exchange is in flight. Touched only on the
// client's io thread (the cancel callback posts there).
struct CancelState {
  bool cancelled = false;
  void* conn = nullptr;  // EngineClient::Conn*
  std::function<void()> abort;
};

struct EngineClient::Impl {
  EngineClient* self;
  std::deque<std::unique_ptr<Conn>> idle;
  static constexpr size_t kMaxIdle = 32;

  // One HTTP exchange on `conn`. Returns false with `ec` set on transport failure;
  // `gotBytes` tells whether any response byte arrived (then a retry is unsafe).
  asio::awaitable<bool> exchange(Conn& conn, const ApiRequest& req, const std::string& target,
                                 ApiResponse& out, boost::system::error_code& ec) {
    http::request<http::string_body> hreq{http::string_to_verb(req.method), target, 11};
    hreq.set(http::field::host, "docker");
    hreq.set(http::field::user_agent, "tend/" TEND_VERSION);
    hreq.keep_alive(true);
    if (!req.body.empty()) {
      hreq.set(http::field::content_type, req.contentType);
      hreq.body() = req.body;
    }
    hreq.prepare_payload();
    conn.stream.expires_at(req.deadline);
    co_await http::async_write(conn.stream, hreq, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;

    http::response_parser<http::string_body> parser;
    parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
    if (req.method == "HEAD") parser.skip(true);
    co_await http::async_read_header(conn.stream, conn.buf, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    size_t consumed = 0;
    std::string pending;
    auto feed = [&](bool final) {
      if (!req.onLine) return;
      const std::string& b = parser.get().body();
      pending.append(b, consumed, std::string::npos);
      consumed = b.size();
      size_t pos;
      while ((pos = pending.find('\n')) != std::string::npos) {
        std::string line = pending.substr(0, pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        pending.erase(0, pos + 1);
        if (!line.empty()) req.onLine(line);
      }
      if (final && !pending.empty()) {
        req.onLine(pending);
        pending.clear();
      }
    };
    while (!parser.is_done()) {
      co_await http::async_read_some(conn.stream, conn.buf, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
      feed(false);
    }
    feed(true);
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    auto v = res.find("Api-Version");
    if (v != res.end()) out.apiVersion = std::string(v->value());
    out.body = std::move(res.body());
    conn.stream.expires_never();
    if (res.keep_alive() && idle.size() < kMaxIdle) {
      // The caller returns conn to the pool; signalled via status.
      co_return true;
    }
    ec = http::error::end_of_stream;  // not reusable, but the response is complete
    co_return true;
  }

  asio::awaitable<std::unique_ptr<Conn>> open(const ApiRequest& req, std::string& err) {
    auto ex = co_await asio::this_coro::executor;
    std::string cerr;
    StreamSocket sock = co_await self->connector_->connect(ex, req.deadline, cerr);
    if (!cerr.empty()) {
      err = cerr;
      co_return nullptr;
    }
    ++self->opened_;
    co_return std::make_unique<Conn>(std::move(sock));
  }

  asio::awaitable<ApiResponse> perform(ApiRequest req) {
    auto cs = std::make_shared<CancelState>();
    CancelSignal::Registration reg;
    if (req.cancel) {
      auto ex = self->ioc_.get_executor();
      reg = req.cancel->onCancel([cs, ex] {
        asio::post(ex, [cs] {
          cs->cancelled = true;
          if (cs->abort) cs->abort();
        });
      });
    }
    ApiResponse out = co_await performChecked(std::move(req), cs);
    co_return out;
  }

  asio::awaitable<ApiResponse> performChecked(ApiRequest req, std::shared_ptr<CancelState> cs) {
    ApiResponse out;
    if (req.versioned && self->apiVersion().empty() &&
        compareApiVersions(kMinApiVersion, kClientMaxApiVersion) == 0) {
      // tend speaks one API version: the first request asks for it itself, with no /_ping
      // before it (one round trip less on every connection to a daemon). A daemon too old
      // for it refuses the request (400, "client version 1.41 is too new") and names its
      // own version in the Api-Version header, as on every answer.
      const std::string v = kClientMaxApiVersion;
      out = co_await performRaw(req, "/v" + v + req.target, cs);
      if (!out.error.empty()) co_return out;
      std::string refused;
      if (out.apiVersion.empty())
        refused = "docker at " + self->ep_.raw + " answered " + req.target +
                  " without an API-Version header (is it a Docker Engine API?)";
      else if (compareApiVersions(out.apiVersion, kMinApiVersion) < 0)
        refused = "docker at " + self->ep_.raw + " speaks API " + out.apiVersion +
                  ", tend needs at least " + kMinApiVersion;
      if (!refused.empty()) {
        ApiResponse bad;
        bad.error = std::move(refused);
        co_return bad;
      }
      self->setVersion(v);
      co_return out;
    }
    if (req.versioned && self->apiVersion().empty()) {
      ApiRequest ping;
      ping.target = "/_ping";
      ping.versioned = false;
      ping.deadline = req.deadline;
      ApiResponse p = co_await performRaw(ping, "/_ping", cs);
      if (!p.error.empty()) {
        out.error = p.error;
        co_return out;
      }
      if (p.status != 200) {
        out.error = "docker /_ping failed: " + p.errorText();
        co_return out;
      }
      if (p.apiVersion.empty()) {
        out.error = "docker /_ping returned no API-Version header";
        co_return out;
      }
      if (compareApiVersions(p.apiVersion, kMinApiVersion) < 0) {
        out.error = "docker at " + self->ep_.raw + " speaks API " + p.apiVersion +
                    ", tend needs at least " + kMinApiVersion;
        co_return out;
      }
      self->setVersion(compareApiVersions(p.apiVersion, kClientMaxApiVersion) < 0
                           ? p.apiVersion
                           : std::string(kClientMaxApiVersion));
    }
    std::string target = req.versioned ? "/v" + self->apiVersion() + req.target : req.target;
    out = co_await performRaw(req, target, cs);
    if (!out.error.empty()) self->setVersion("");  // the daemon may come back as another version
    co_return out;
  }

  asio::awaitable<ApiResponse> performRaw(const ApiRequest& req, const std::string& target,
                                          std::shared_ptr<CancelState> cs) {
    ApiResponse out;
    auto cancelledText = [&] {
      return "docker request " + req.method + " " + req.target + " to " + self->ep_.raw + " cancelled";
    };
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (cs->cancelled) {
        out.error = cancelledText();
        co_return out;
      }
      std::unique_ptr<Conn> conn;
      bool reused = false;
      if (!idle.empty()) {
        conn = std::move(idle.back());
        idle.pop_back();
        reused = true;
      } else {
        std::string err;
        conn = co_await open(req, err);
        if (!conn) {
          out.error = err;
          co_return out;
        }
      }
      ++self->sent_;
      boost::system::error_code ec;
      ApiResponse r;
      Conn* raw = conn.get();
      cs->abort = [raw] {
        boost::system::error_code ignore;
        raw->stream.socket().close(ignore);  // pending read/write end with operation_aborted
      };
      bool complete = co_await exchange(*conn, req, target, r, ec);
      cs->abort = nullptr;
      if (cs->cancelled) {
        out.error = cancelledText();
        co_return out;
      }
      if (complete) {
        if (!ec) idle.push_back(std::move(conn));
        co_return r;
      }
      // A pooled keep-alive connection the daemon closed meanwhile: retry once on a fresh one.
      // Safe because nothing of the response arrived.
      if (reused && r.status == 0 && attempt == 0 &&
          (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::eof)) {
        continue;
      }
      if (ec == beast::error::timeout)
        out.error = "docker request " + req.method + " " + req.target + " to " + self->ep_.raw +
                    " timed out";
      else
        out.error = "docker request " + req.method + " " + req.target + " to " + self->ep_.raw +
                    " failed: " + ec.message();
      co_return out;
    }
    co_return out;
  }
};

EngineClient::EngineClient(Endpoint ep, std::unique_ptr<Connector> connector)
    : ep_(std::move(ep)),
      connector_(connector ? std::move(connector) : makeConnector(ep_)),
      guard_(asio::make_work_guard(ioc_)),
      impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  thread_ = std::thread([this] { ioc_.run(); });
}

EngineClient::~EngineClient() {
  guard_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
  // Pooled sockets close with impl_ after the thread ended.
}

std::future<ApiResponse> EngineClient::send(ApiRequest req) {
  if (!req.cancel) req.cancel = CancelScope::current();
  auto prom = std::make_shared<std::promise<ApiResponse>>();
  auto fut = prom->get_future();
  asio::co_spawn(ioc_, impl_->perform(std::move(req)),
                 [prom](std::exception_ptr e, ApiResponse r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       r = ApiResponse{};
                       r.error = std::string("docker client internal error: ") + ex.what();
                     }
                   }
                   prom->set_value(std::move(r));
                 });
  return fut;
}

std::string EngineClient::apiVersion() const {
  std::lock_guard<std::mutex> lk(versionMu_);
  return version_;
}

void EngineClient::setVersion(const std::string& v) {
  std::lock_guard<std::mutex> lk(versionMu_);
  version_ = v;
}

}  // namespace tend::docker
