#include "daemon/server/http_server.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/ssl.hpp>

#include "core/log.h"

namespace tend::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using unixp = asio::local::stream_protocol;
using asio::awaitable;
using asio::use_awaitable;
using UnixStream = beast::basic_stream<unixp>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct HttpServer::State {
  State(asio::io_context& i, Handler h, ServerOptions o) : io(i), handler(std::move(h)), opts(o) {}
  asio::io_context& io;
  Handler handler;
  ServerOptions opts;
  std::vector<std::shared_ptr<tcp::acceptor>> tcpAcceptors;
  std::vector<std::shared_ptr<unixp::acceptor>> unixAcceptors;
  std::vector<std::string> unixPaths;  // socket files still to remove
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopped{false};
  // Admission bookkeeping (accept loops and connection ends; the mutex keeps it correct
  // should the io_context ever run on several threads).
  std::mutex admitMu;
  std::size_t tcpConnections = 0;
  std::unordered_map<std::string, std::size_t> perClient;
};

namespace {

// Exceptions must never vanish in a detached coroutine: log them.
void logIfFailed(std::exception_ptr e, const char* where) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    log::error(std::string("http: ") + where + " ended with an exception", {{"error", x.what()}});
  }
}

// A connection's share of the limits, taken by admit() and given back when the connection
// ends. `client` is the TCP peer address ("" for the unix socket).
struct ConnectionSlot {
  std::shared_ptr<HttpServer::State> st;
  bool tcp;
  std::string client;
  ConnectionSlot(std::shared_ptr<HttpServer::State> s, bool isTcp, std::string c)
      : st(std::move(s)), tcp(isTcp), client(std::move(c)) {}
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() {
    std::lock_guard lk(st->admitMu);
    st->connections.fetch_sub(1);
    if (!tcp) return;
    --st->tcpConnections;
    auto it = st->perClient.find(client);
    if (it != st->perClient.end() && --it->second == 0) st->perClient.erase(it);
  }
};
using SlotPtr = std::unique_ptr<ConnectionSlot>;

// Null when the connection is over a limit: the total, TCP's share of it (the unix socket's
// reserve excluded) or the per-client cap.
SlotPtr admit(const std::shared_ptr<HttpServer::State>& st, bool tcp, std::string client) {
  const auto& o = st->opts;
  std::lock_guard lk(st->admitMu);
  if (st->connections.load() >= o.maxConnections) return nullptr;
  if (tcp) {
    const std::size_t reserve = std::min(o.unixReserved, o.maxConnections / 4);
    if (st->tcpConnections >= o.maxConnections - reserve) return nullptr;
    auto& n = st->perClient[client];
    if (n >= o.maxPerClient) {
      if (n == 0) st->perClient.erase(client);
      return nullptr;
    }
    ++n;
    ++st->tcpConnections;
  }
  st->connections.fetch_add(1);
  return std::make_unique<ConnectionSlot>(st, tcp, std::move(client));
}

Response plainError(http::status s, const std::string& text, unsigned version) {
  Response res{s, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "tendd");
  res.body() = std::string("{\"error\":\"") + text + "\"}\n";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

template <class Stream>
awaitable<void> gracefulClose(Stream& s) {
  beast::error_code ec;
  beast::get_lowest_layer(s).socket().shutdown(asio::socket_base::shutdown_send, ec);
  co_return;
}

template <>
awaitable<void> gracefulClose<TlsStream>(TlsStream& s) {
  beast::error_code ec;
  beast::get_lowest_layer(s).expires_after(std::chrono::seconds(2));
  co_await s.async_shutdown(asio::redirect_error(use_awaitable, ec));
}

// After an error answer the client may still be sending (a large body): stop writing, then
// read and discard for a moment so the close does not reset the connection before the client
// has read the answer.
template <class Stream>
awaitable<void> lingeringClose(Stream& s) {
  beast::error_code ec;
  beast::get_lowest_layer(s).socket().shutdown(asio::socket_base::shutdown_send, ec);
  beast::get_lowest_layer(s).expires_after(std::chrono::seconds(1));
  static thread_local char scratch[16384];
  for (int i = 0; i < 256; ++i) {
    co_await beast::get_lowest_layer(s).async_read_some(asio::buffer(scratch),
                                                        asio::redirect_error(use_awaitable, ec));
    if (ec) break;
  }
}

}  // namespace

// sendfile has no MSG_NOSIGNAL: writing to a connection the peer has reset (once its error
// was reported elsewhere) raises SIGPIPE, whose default action would end the daemon. Block it
// on this thread around the call and take back the one a broken pipe leaves pending. (Not
// SIG_IGN process-wide: children the daemon spawns would inherit it.)
ssize_t sendfileNoSignal(int sock, int fd, off_t* off, std::size_t n) {
  sigset_t pipeSet, old;
  sigemptyset(&pipeSet);
  sigaddset(&pipeSet, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipeSet, &old);
  ssize_t r = ::sendfile(sock, fd, off, n);
  const int err = errno;
  // A short count can hide a broken pipe too: sendfile returns what it moved before the
  // error, but the signal was raised all the same.
  const bool maybeBroken = r < 0 ? err == EPIPE : static_cast<std::size_t>(r) < n;
  if (maybeBroken && !sigismember(&old, SIGPIPE)) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipeSet, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return r;
}

namespace {

// Sends the header, then the body from its memfd with sendfile: the kernel hands the memfd's
// pages to the socket, so a 130 KB status body costs no copy in this process (the copy into
// the socket buffer was the largest cost of serving it). Under the write deadline like
// async_write. Plain TCP only (TLS must encrypt in user space).
awaitable<void> writeWithSendfile(beast::tcp_stream& stream, const Response& res,
                                  std::chrono::milliseconds timeout, beast::error_code& ec) {
  std::ostringstream os;
  os << res.base();
  const std::string head = os.str();
  tcp::socket& sock = stream.socket();
  if (!sock.native_non_blocking()) {  // once per connection (asio remembers it)
    sock.native_non_blocking(true, ec);
    if (ec) co_return;
  }
  const int s = sock.native_handle();
  const int fd = res.body().fd();
  const std::size_t size = res.body().size();
  std::size_t headSent = 0;
  off_t off = 0;
  // The deadline cancels the wait below; `state` tells a late timer handler that the
  // socket may be gone. Armed only once the socket buffer is full: usually the whole
  // response fits at once, and a timer per request costs two timerfd syscalls.
  auto state = std::make_shared<bool>(true);
  std::optional<asio::steady_timer> deadline;
  while (static_cast<std::size_t>(off) < size) {
    ssize_t n;
    if (headSent < head.size()) {
      // MSG_MORE: the header waits for the body's first bytes (one segment, despite NODELAY).
      n = ::send(s, head.data() + headSent, head.size() - headSent, MSG_MORE | MSG_NOSIGNAL);
      if (n > 0) {
        headSent += static_cast<std::size_t>(n);
        continue;
      }
    } else {
      n = sendfileNoSignal(s, fd, &off, size - static_cast<std::size_t>(off));
      if (n > 0) continue;
      if (n == 0) {  // the memfd is sealed: cannot happen unless it was truncated
        ec = asio::error::eof;
        break;
      }
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = beast::error_code(errno, boost::system::system_category());
      break;
    }
    if (!deadline) {
      deadline.emplace(stream.get_executor());
      deadline->expires_after(timeout);
      deadline->async_wait([state, &sock](beast::error_code e) {
        if (!e && *state) {
          *state = false;
          beast::error_code ignored;
          sock.cancel(ignored);
        }
      });
    }
    co_await sock.async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted && !*state) ec = beast::error::timeout;
      break;
    }
  }
  *state = false;
  if (deadline) deadline->cancel();
}

// StreamSink over one connection's stream, each write under the write deadline.
template <class Stream>
class ConnectionSink final : public StreamSink {
 public:
  ConnectionSink(Stream& s, std::chrono::milliseconds timeout) : s_(s), timeout_(timeout) {}
  awaitable<bool> write(const std::string& data) override {
    if (failed_) co_return false;
    beast::error_code ec;
    beast::get_lowest_layer(s_).expires_after(timeout_);
    co_await asio::async_write(s_, asio::buffer(data), asio::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(s_).expires_never();
    if (ec) {
      if (ec == beast::error::timeout) log::debug("http: stream client too slow, dropped");
      failed_ = true;
    }
    co_return !failed_;
  }

 private:
  Stream& s_;
  std::chrono::milliseconds timeout_;
  bool failed_ = false;
};

// The request loop of one connection (keep-alive), until the peer or an error ends it. `buf`
// holds bytes already read from the stream (none, or what followed a TLS handshake). Returns
// true when it has already closed the connection (after an error answer).
template <class Stream>
awaitable<bool> serveRequests(Stream& stream, Transport transport,
                              std::shared_ptr<HttpServer::State> st, beast::flat_buffer buf = {}) {
  const auto& o = st->opts;
  bool first = true;
  beast::error_code ec;
  for (;;) {
    if (!first && buf.size() == 0) {
      // Keep-alive: wait for the next request's first byte under the idle timeout.
      beast::get_lowest_layer(stream).expires_after(o.idleTimeout);
      auto n = co_await stream.async_read_some(buf.prepare(4096),
                                               asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      buf.commit(n);
    }
    first = false;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(o.headerLimit));
    parser.body_limit(o.bodyLimit);
    beast::get_lowest_layer(stream).expires_after(o.headerTimeout);
    co_await http::async_read_header(stream, buf, parser, asio::redirect_error(use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      if (ec == beast::error::timeout) log::debug("http: client too slow, connection dropped");
      break;
    }
    if (ec) {
      http::status s = http::status::bad_request;
      if (ec == http::error::body_limit) s = http::status::payload_too_large;
      if (ec == http::error::header_limit) s = http::status::request_header_fields_too_large;
      auto res = plainError(s, ec == http::error::body_limit ? "request body larger than 1 MiB"
                                                             : "malformed request: " + ec.message(),
                            11);
      beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
      co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
      co_await lingeringClose(stream);
      co_return true;
    }
    if (!parser.is_done()) {
      auto& hdr = parser.get();
      if (beast::iequals(hdr[http::field::expect], "100-continue")) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
        co_await asio::async_write(stream, asio::buffer(kContinue, sizeof kContinue - 1),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      beast::get_lowest_layer(stream).expires_after(o.bodyTimeout);
      co_await http::async_read(stream, buf, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == http::error::body_limit) {
          auto res = plainError(http::status::payload_too_large, "request body larger than 1 MiB",
                                parser.get().version());
          beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
          co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
          co_await lingeringClose(stream);
          co_return true;
        }
        break;
      }
    }
    Request req = parser.release();
    if (transport == Transport::Tcp) {
      auto host = req[http::field::host];
      if (!hostAllowed(std::string_view(host.data(), host.size()), o.allowedHosts)) {
        log::debug("http: request for a foreign Host refused");
        auto res = plainError(http::status::misdirected_request,
                              "this Host is not served here (a name tendd should answer to "
                              "needs tendd --allowed-host NAME)",
                              req.version());
        beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
        co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
        co_await lingeringClose(stream);
        co_return true;
      }
    }
    const bool keepAlive = req.keep_alive() && !st->stopped.load();
    const unsigned version = req.version();
    // The handler may suspend for a long time (reconcile --wait): no deadline meanwhile.
    beast::get_lowest_layer(stream).expires_never();
    Response res = co_await st->handler(std::move(req), transport);
    if (auto producer = res.body().producer()) {
      // A stream: the header, then whatever the producer writes, then the close.
      res.version(version);
      res.set(http::field::server, "tendd");
      res.keep_alive(false);
      res.erase(http::field::content_length);
      res.erase(http::field::transfer_encoding);
      std::ostringstream os;
      os << res.base();
      const std::string head = os.str();
      beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
      co_await asio::async_write(stream, asio::buffer(head), asio::redirect_error(use_awaitable, ec));
      beast::get_lowest_layer(stream).expires_never();
      if (ec) break;
      ConnectionSink<Stream> sink(stream, o.writeTimeout);
      co_await (*producer)(sink);
      break;
    }
    res.version(version);
    res.set(http::field::server, "tendd");
    res.keep_alive(keepAlive && res.keep_alive());
    res.prepare_payload();
    // A 304 has no body by definition; "Content-Length: 0" there would claim the resource is
    // empty (RFC 9110 8.6), so it carries none.
    if (res.result() == http::status::not_modified) res.erase(http::field::content_length);
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      if (res.body().fd() >= 0 && !res.body().empty()) {
        co_await writeWithSendfile(stream, res, o.writeTimeout, ec);
        if (ec || !res.keep_alive()) break;
        continue;
      }
    }
    beast::get_lowest_layer(stream).expires_after(o.writeTimeout);
    co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  co_return false;
}

template <class Stream>
awaitable<void> serveConnection(Stream stream, Transport transport,
                                std::shared_ptr<HttpServer::State> st, SlotPtr slot) {
  // The slot is given back when the connection ends. (Held in a local: GCC 12 miscompiled
  // this coroutine with a move-only parameter the body never used.)
  const SlotPtr held = std::move(slot);
  if (!co_await serveRequests(stream, transport, st)) co_await gracefulClose(stream);
}

// The TCP listener with TLS: sniff the first bytes, then handshake. The handshake runs under the
// header deadline, so a client that connects and stalls (or trickles a ClientHello) is dropped
// like a slowloris one; each connection is its own coroutine, so it never holds up others.
// Plain HTTP sent to this port gets a readable 400 instead of a TLS alert the client cannot
// show (Go's net/http does the same); it is never served.
awaitable<void> serveTls(tcp::socket sock, std::shared_ptr<asio::ssl::context> tls,
                         std::shared_ptr<HttpServer::State> st, SlotPtr slot) {
  const SlotPtr held = std::move(slot);
  beast::tcp_stream plain(std::move(sock));
  beast::flat_buffer buf;
  beast::error_code ec;
  plain.expires_after(st->opts.headerTimeout);
  bool isTls = co_await beast::async_detect_ssl(plain, buf, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    log::debug("http: TLS client sent nothing usable before the deadline", {{"error", ec.message()}});
    co_return;
  }
  if (!isTls) {
    log::debug("http: plain HTTP on the TLS listener refused");
    auto res = plainError(http::status::bad_request,
                          "this port speaks HTTPS: use https:// (plain HTTP is not served here)", 11);
    plain.expires_after(st->opts.writeTimeout);
    co_await http::async_write(plain, res, asio::redirect_error(use_awaitable, ec));
    co_await lingeringClose(plain);
    co_return;
  }
  TlsStream s(std::move(plain), *tls);
  auto used = co_await s.async_handshake(asio::ssl::stream_base::server, buf.data(),
                                         asio::redirect_error(use_awaitable, ec));
  if (ec) {
    log::debug("http: TLS handshake failed", {{"error", ec.message()}});
    co_return;
  }
  buf.consume(used);
  if (!co_await serveRequests(s, Transport::Tcp, st, std::move(buf))) co_await gracefulClose(s);
}

awaitable<void> acceptTcp(std::shared_ptr<tcp::acceptor> acc,
                          std::shared_ptr<asio::ssl::context> tls,
                          std::shared_ptr<HttpServer::State> st) {
  beast::error_code ec;
  while (!st->stopped.load()) {
    tcp::socket sock = co_await acc->async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || st->stopped.load()) break;
      // EMFILE and friends: log and keep serving the connections we have.
      log::warn("http: accept failed", {{"error", ec.message()}});
      asio::steady_timer t(acc->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    auto peer = sock.remote_endpoint(ec);
    std::string client = ec ? std::string() : peer.address().to_string();
    auto slot = admit(st, true, std::move(client));
    if (!slot) {
      sock.close(ec);
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    auto ex = acc->get_executor();
    if (tls) {
      asio::co_spawn(ex, serveTls(std::move(sock), tls, st, std::move(slot)),
                     [](std::exception_ptr e) { logIfFailed(e, "tls connection"); });
    } else {
      asio::co_spawn(ex,
                     serveConnection(beast::tcp_stream(std::move(sock)), Transport::Tcp, st, std::move(slot)),
                     [](std::exception_ptr e) { logIfFailed(e, "connection"); });
    }
  }
}

awaitable<void> acceptUnix(std::shared_ptr<unixp::acceptor> acc,
                           std::shared_ptr<HttpServer::State> st) {
  beast::error_code ec;
  while (!st->stopped.load()) {
    unixp::socket sock = co_await acc->async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || st->stopped.load()) break;
      log::warn("http: accept failed on unix socket", {{"error", ec.message()}});
      asio::steady_timer t(acc->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    auto slot = admit(st, false, "");
    if (!slot) {
      sock.close(ec);
      continue;
    }
    asio::co_spawn(acc->get_executor(),
                   serveConnection(UnixStream(std::move(sock)), Transport::Unix, st, std::move(slot)),
                   [](std::exception_ptr e) { logIfFailed(e, "unix connection"); });
  }
}

}  // namespace

bool hostAllowed(std::string_view host, const std::vector<std::string>& allowed) {
  if (host.empty()) return true;  // HTTP/1.0: no browser sends a request without Host
  std::string name;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = std::string(host.substr(1, close - 1));
  } else {
    auto colon = host.find(':');
    name = std::string(host.substr(0, colon));
    // A second ':' is a bare IPv6 literal, which Host never carries unbracketed.
    if (colon != std::string_view::npos && host.find(':', colon + 1) != std::string_view::npos) return false;
  }
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return false;
  // An IP literal is the address the client connected to: the page asking is tend's own
  // origin, no rebinding involved.
  boost::system::error_code ec;
  asio::ip::make_address(name, ec);
  if (!ec) return true;
  auto endsWith = [](const std::string& s, std::string_view suffix) {
    return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (name == "localhost" || endsWith(name, ".localhost")) return true;
  for (std::string a : allowed) {
    for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (a.rfind("*.", 0) == 0 ? endsWith(name, a.substr(1)) : name == a) return true;
  }
  return false;
}

int sealedMemfd(std::string_view text) {
  int fd = ::memfd_create("tend-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  // Sealed: what is sent is exactly `text`, whoever holds the descriptor.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool parseAddrPort(const std::string& s, std::string& addr, unsigned short& port) {
  std::string portStr;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    addr = s.substr(1, close - 1);
    portStr = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    addr = s.substr(0, colon);
    portStr = s.substr(colon + 1);
  }
  if (addr.empty()) addr = "0.0.0.0";
  if (portStr.empty() || portStr.size() > 5 ||
      portStr.find_first_not_of("0123456789") != std::string::npos)
    return false;
  unsigned long p = std::stoul(portStr);
  if (p > 65535) return false;
  port = static_cast<unsigned short>(p);
  return true;
}

HttpServer::HttpServer(asio::io_context& io, Handler handler, ServerOptions opts)
    : st_(std::make_shared<State>(io, std::move(handler), opts)) {}

namespace {
// Runs on the io thread (or after it has stopped).
void closeAcceptors(HttpServer::State& st) {
  beast::error_code ec;
  for (auto& a : st.tcpAcceptors) a->close(ec);
  for (auto& a : st.unixAcceptors) a->close(ec);
  for (auto& p : st.unixPaths) ::unlink(p.c_str());
  st.unixPaths.clear();
}
}  // namespace

HttpServer::~HttpServer() {
  stopAccepting();
  // The io_context may have stopped before a posted close ran: the socket file must not
  // outlive the daemon either way.
  for (auto& p : st_->unixPaths) ::unlink(p.c_str());
}

Result<unsigned short> HttpServer::listenTcp(const std::string& addrPort,
                                             std::shared_ptr<asio::ssl::context> tls) {
  std::string addr;
  unsigned short port = 0;
  if (!parseAddrPort(addrPort, addr, port))
    return makeError("invalid listen address '" + addrPort + "' (want ADDR:PORT)");
  beast::error_code ec;
  auto ip = asio::ip::make_address(addr, ec);
  if (ec) return makeError("invalid listen address '" + addrPort + "': " + ec.message());
  auto acc = std::make_shared<tcp::acceptor>(st_->io);
  tcp::endpoint ep(ip, port);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError("cannot listen on " + addrPort + ": " + ec.message());
  unsigned short bound = acc->local_endpoint().port();
  st_->tcpAcceptors.push_back(acc);
  asio::co_spawn(st_->io, acceptTcp(acc, std::move(tls), st_),
                 [](std::exception_ptr e) { logIfFailed(e, "tcp accept loop"); });
  return bound;
}

Result<void> HttpServer::listenUnix(const std::string& path) {
  struct stat sb{};
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) return makeError("cannot use " + path + ": exists and is not a socket");
    ::unlink(path.c_str());  // stale socket of a previous run
  }
  beast::error_code ec;
  auto acc = std::make_shared<unixp::acceptor>(st_->io);
  // Bind under a restrictive umask so the socket is never briefly group/world accessible.
  mode_t old = ::umask(0177);
  acc->open(unixp(), ec);
  if (!ec) acc->bind(unixp::endpoint(path), ec);
  ::umask(old);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError("cannot listen on unix socket " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0600);
  st_->unixAcceptors.push_back(acc);
  st_->unixPaths.push_back(path);
  asio::co_spawn(st_->io, acceptUnix(acc, st_),
                 [](std::exception_ptr e) { logIfFailed(e, "unix accept loop"); });
  return {};
}

void HttpServer::stopAccepting() {
  if (st_->stopped.exchange(true)) return;
  // Acceptors belong to the io thread: close them there, at once when called on it. A posted
  // close can lose the race with io_context::stop() (tendd's shutdown posts the stop from
  // another thread), which left the socket file behind.
  if (st_->io.get_executor().running_in_this_thread()) {
    closeAcceptors(*st_);
    return;
  }
  asio::post(st_->io, [st = st_] { closeAcceptors(*st); });
}

std::size_t HttpServer::activeConnections() const { return st_->connections.load(); }

Result<std::shared_ptr<asio::ssl::context>> makeTlsContext(const std::string& certFile,
                                                           const std::string& keyFile) {
  // Name the file and the reason: OpenSSL's own text for a missing file is "system lib".
  for (const auto& [what, file] : {std::pair{"certificate", certFile}, std::pair{"key", keyFile}}) {
    if (::access(file.c_str(), R_OK) != 0)
      return makeError(std::string("cannot read TLS ") + what + " " + file + ": " + std::strerror(errno));
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1,
                   ec);
  ctx->use_certificate_chain_file(certFile, ec);
  if (ec) return makeError("cannot load TLS certificate " + certFile + ": " + ec.message());
  ctx->use_private_key_file(keyFile, asio::ssl::context::pem, ec);
  if (ec) return makeError("cannot load TLS key " + keyFile + ": " + ec.message());
  return ctx;
}

}  // namespace tend::daemon
