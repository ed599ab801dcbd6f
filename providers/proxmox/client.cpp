#include "providers/proxmox/client.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <deque>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tend::proxmox {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// ---- CancelToken
void CancelToken::cancel() {
  std::function<void()> h;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cancelled_ = true;
    h = std::move(hook_);
    hook_ = nullptr;
  }
  if (h) h();
}

bool CancelToken::setHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lk(mu_);
  if (cancelled_) return false;
  hook_ = std::move(hook);
  return true;
}

void CancelToken::clearHook() {
  std::lock_guard<std::mutex> lk(mu_);
  hook_ = nullptr;
}

Result<std::string> normalizeFingerprint(const std::string& text) {
  std::string t = text;
  if (t.rfind("sha256:", 0) == 0 || t.rfind("SHA256:", 0) == 0) t = t.substr(7);
  std::string hex;
  for (char c : t) {
    if (c == ':' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return makeError("fingerprint '" + text + "': only hex digits and ':' are allowed", true);
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 64)
    return makeError("fingerprint '" + text + "': a SHA-256 fingerprint has 64 hex digits, got " +
                         std::to_string(hex.size()),
                     true);
  return hex;
}

namespace {

std::string certSha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

std::string colonHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i) out.push_back(':');
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i]))));
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i + 1]))));
  }
  return out;
}

ApiError makeApiError(ErrorKind k, std::string msg) {
  ApiError e;
  e.kind = k;
  e.message = std::move(msg);
  return e;
}

}  // namespace

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct Client::Conn {
  Conn(asio::any_io_executor ex, ssl::context& ctx) : stream(ex, ctx) {}
  TlsStream stream;
  beast::flat_buffer buf;
  std::string seenFingerprint;  // the leaf certificate's SHA-256, recorded during the handshake
};

struct Client::Impl {
  Client* self;
  ssl::context ctx{ssl::context::tls_client};
  std::string setupError;
  std::string pin;  // lowercase hex, empty = no pin
  std::deque<std::shared_ptr<Conn>> idle;
  static constexpr size_t kMaxIdle = 8;
  static constexpr uint64_t kBodyLimit = 64u << 20;

  explicit Impl(Client* c) : self(c) {
    const auto& tls = c->cfg_.tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    if (tls.insecure) {
      ctx.set_verify_mode(ssl::verify_none);
      return;
    }
    ctx.set_verify_mode(ssl::verify_peer);
    if (!tls.fingerprint.empty()) {
      auto fp = normalizeFingerprint(tls.fingerprint);
      if (!fp) setupError = fp.error().message;
      else pin = *fp;
      return;
    }
    if (!tls.caFile.empty()) {
      std::ifstream probe(tls.caFile);
      if (!probe) {
        setupError = "cannot read tls.ca_file '" + tls.caFile + "'";
        return;
      }
      ctx.load_verify_file(tls.caFile, ec);
      if (ec) setupError = "tls.ca_file '" + tls.caFile + "' holds no usable certificate: " + ec.message();
      // A certificate in ca_file is a trust anchor even when it is not a root: the node's own
      // certificate (pve-ssl.pem) or an intermediate can be trusted directly.
      X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
    } else {
      ctx.set_default_verify_paths(ec);
      if (ec) setupError = "cannot load the system's CA certificates: " + ec.message();
    }
  }

  std::string where() const {
    return "https://" + self->cfg_.host + ":" + std::to_string(self->cfg_.port);
  }

  // Connects and completes the TLS handshake; on failure sets `err`.
  asio::awaitable<void> open(Conn& conn, const Request& req, ApiError& err) {
    const auto& cfg = self->cfg_;
    SSL* ssl = conn.stream.native_handle();
    if (!pin.empty()) {
      // Chain errors are irrelevant with a pin: the leaf's digest decides, before any byte
      // of a request exists.
      Conn* c = &conn;
      std::string want = pin;
      conn.stream.set_verify_callback([c, want](bool, ssl::verify_context& vctx) {
        X509_STORE_CTX* st = vctx.native_handle();
        if (X509_STORE_CTX_get_error_depth(st) > 0) return true;
        c->seenFingerprint = certSha256(X509_STORE_CTX_get_current_cert(st));
        return c->seenFingerprint == want;
      });
    } else if (!cfg.tls.insecure) {
      boost::system::error_code aec;
      (void)asio::ip::make_address(cfg.host, aec);
      if (!aec) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), cfg.host.c_str());
      } else {
        SSL_set1_host(ssl, cfg.host.c_str());
        SSL_set_tlsext_host_name(ssl, cfg.host.c_str());
      }
    }
    boost::system::error_code ec;
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto results = co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      err = makeApiError(ErrorKind::Transport, "cannot resolve " + cfg.host + ": " + ec.message());
      co_return;
    }
    auto& tcpStream = beast::get_lowest_layer(conn.stream);
    tcpStream.expires_at(req.deadline);
    co_await tcpStream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      err = transportError(req, ec, "connect to " + where());
      co_return;
    }
    co_await conn.stream.async_handshake(ssl::stream_base::client,
                                         asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (req.cancel && req.cancel->cancelled()) {
        err = makeApiError(ErrorKind::Cancelled, "call cancelled");
      } else if (ec == beast::error::timeout) {
        err = makeApiError(ErrorKind::Timeout, "TLS handshake with " + where() + " timed out");
      } else if (!pin.empty() && conn.seenFingerprint != pin) {
        err = makeApiError(ErrorKind::Tls,
                           "TLS: the certificate of " + where() + " has SHA-256 fingerprint " +
                               colonHex(conn.seenFingerprint) +
                               ", not the pinned tls.fingerprint; nothing was sent");
      } else {
        long vr = SSL_get_verify_result(ssl);
        std::string why = vr != X509_V_OK ? X509_verify_cert_error_string(vr) : ec.message();
        err = makeApiError(ErrorKind::Tls, "TLS: cannot verify the certificate of " + where() +
                                               ": " + why + "; nothing was sent");
      }
      co_return;
    }
    if (!pin.empty()) {
      // Checked again on the finished session: a resumed or renegotiated session must not
      // slip past the callback.
      X509* peer = SSL_get1_peer_certificate(ssl);
      std::string got = certSha256(peer);
      if (peer) X509_free(peer);
      if (got != pin) {
        tcpStream.close();
        err = makeApiError(ErrorKind::Tls, "TLS: the certificate of " + where() +
                                               " does not match the pinned tls.fingerprint; "
                                               "nothing was sent");
        co_return;
      }
    }
    ++self->opened_;
  }

  ApiError transportError(const Request& req, const boost::system::error_code& ec,
                          const std::string& what) {
    if (req.cancel && req.cancel->cancelled())
      return makeApiError(ErrorKind::Cancelled, "call " + req.method + " " + req.path + " cancelled");
    if (ec == beast::error::timeout)
      return makeApiError(ErrorKind::Timeout, req.method + " " + req.path + " to " + where() +
                                                  " timed out (" + what + ")");
    return makeApiError(ErrorKind::Transport,
                        req.method + " " + req.path + " to " + where() + " failed (" + what +
                            "): " + ec.message());
  }

  // One exchange. Returns true when a complete response arrived (out.status set).
  asio::awaitable<bool> exchange(Conn& conn, const Request& req, const std::string& target,
                                 int& status, std::string& reason, std::string& body,
                                 bool& keepAlive, boost::system::error_code& ec) {
    const auto& cfg = self->cfg_;
    http::request<http::string_body> hreq{http::string_to_verb(req.method), target, 11};
    hreq.set(http::field::host, cfg.host + ":" + std::to_string(cfg.port));
    hreq.set(http::field::user_agent, "tend/" TEND_VERSION);
    hreq.set(http::field::accept, "application/json");
    hreq.set(http::field::authorization, "PVEAPIToken=" + cfg.tokenId + "=" + cfg.tokenSecret);
    hreq.keep_alive(true);
    if ((req.method == "POST" || req.method == "PUT") && !req.params.empty()) {
      hreq.set(http::field::content_type, "application/x-www-form-urlencoded");
      hreq.body() = formEncode(req.params);
    }
    hreq.prepare_payload();
    auto& tcpStream = beast::get_lowest_layer(conn.stream);
    tcpStream.expires_at(req.deadline);
    ++self->sent_;
    co_await http::async_write(conn.stream, hreq, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    co_await http::async_read(conn.stream, conn.buf, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    auto& res = parser.get();
    status = static_cast<int>(res.result_int());
    reason = std::string(res.reason());
    body = std::move(res.body());
    keepAlive = res.keep_alive();
    tcpStream.expires_never();
    co_return true;
  }

  asio::awaitable<Response> perform(Request req) {
    Response out;
    if (req.cancel && req.cancel->cancelled()) {
      out.error = makeApiError(ErrorKind::Cancelled, "call " + req.method + " " + req.path + " cancelled");
      co_return out;
    }
    if (!setupError.empty()) {
      out.error = makeApiError(ErrorKind::Tls, "TLS: " + setupError);
      co_return out;
    }
    std::string target = "/api2/json" + req.path;
    if ((req.method == "GET" || req.method == "DELETE") && !req.params.empty())
      target += "?" + formEncode(req.params);
    auto ex = co_await asio::this_coro::executor;
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<Conn> conn;
      bool reused = false;
      if (!idle.empty()) {
        conn = std::move(idle.back());
        idle.pop_back();
        reused = true;
      } else {
        conn = std::make_shared<Conn>(ex, ctx);
      }
      if (req.cancel) {
        std::weak_ptr<Conn> weak = conn;
        bool armed = req.cancel->setHook([target = self->postTarget_, weak] {
          std::lock_guard<std::mutex> lk(target->mu);
          if (!target->ioc) return;
          asio::post(*target->ioc, [weak] {
            if (auto c = weak.lock()) beast::get_lowest_layer(c->stream).close();
          });
        });
        if (!armed) {
          out.error = makeApiError(ErrorKind::Cancelled, "call " + req.method + " " + req.path + " cancelled");
          co_return out;
        }
      }
      ApiError err;
      if (!reused) {
        co_await open(*conn, req, err);
        if (err.kind != ErrorKind::None) {
          if (req.cancel) req.cancel->clearHook();
          out.error = err;
          co_return out;
        }
      }
      boost::system::error_code ec;
      int status = 0;
      std::string reason, body;
      bool keepAlive = false;
      bool complete = co_await exchange(*conn, req, target, status, reason, body, keepAlive, ec);
      if (req.cancel) req.cancel->clearHook();
      if (!complete) {
        // A pooled connection the server closed meanwhile: retry once on a fresh one. Safe:
        // nothing of a response arrived and the cancel flag is not set.
        bool stale = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::broken_pipe || ec == asio::error::eof ||
                     ec == ssl::error::stream_truncated;
        if (reused && attempt == 0 && stale && !(req.cancel && req.cancel->cancelled())) continue;
        out.error = transportError(req, ec, "request");
        co_return out;
      }
      if (keepAlive && idle.size() < kMaxIdle) idle.push_back(std::move(conn));
      out.status = status;
      if (status >= 200 && status < 300) {
        auto j = nlohmann::json::parse(body, nullptr, false);
        if (!j.is_object() || !j.contains("data")) {
          out.error = makeApiError(ErrorKind::Server, req.method + " " + req.path +
                                                          ": answer is not a {\"data\": ...} envelope");
          out.error.status = status;
        } else {
          out.data = std::move(j["data"]);
        }
      } else {
        out.error = errorFromResponse(status, reason, body);
      }
      co_return out;
    }
    co_return out;
  }
};

Client::Client(ClientConfig cfg)
    : cfg_(std::move(cfg)), guard_(asio::make_work_guard(ioc_)) {
  impl_ = std::make_unique<Impl>(this);
  postTarget_->ioc = &ioc_;
  thread_ = std::thread([this] { ioc_.run(); });
}

Client::~Client() {
  {
    std::lock_guard<std::mutex> lk(postTarget_->mu);
    postTarget_->ioc = nullptr;
  }
  guard_.reset();
  ioc_.stop();
  if (thread_.joinable()) thread_.join();
}

Result<void> Client::ready() const {
  if (!impl_->setupError.empty()) return makeError("proxmox: " + impl_->setupError, true);
  return {};
}

std::future<Response> Client::send(Request req) {
  auto prom = std::make_shared<std::promise<Response>>();
  auto fut = prom->get_future();
  asio::co_spawn(ioc_, impl_->perform(std::move(req)),
                 [prom](std::exception_ptr e, Response r) {
                   if (e) {
                     r = Response{};
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       r.error = makeApiError(ErrorKind::Transport,
                                              std::string("client internal error: ") + ex.what());
                     }
                   }
                   prom->set_value(std::move(r));
                 });
  return fut;
}

Response Client::taskStatus(const std::string& node, const std::string& upid,
                            std::chrono::steady_clock::time_point deadline,
                            std::shared_ptr<CancelToken> cancel) {
  Request r;
  r.path = "/nodes/" + pathSegment(node) + "/tasks/" + pathSegment(upid) + "/status";
  r.deadline = deadline;
  r.cancel = std::move(cancel);
  return call(std::move(r));
}

}  // namespace tend::proxmox
