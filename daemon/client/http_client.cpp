#include "daemon/client/http_client.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tend::daemon {

std::string urlEncode(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == '@' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;

namespace {

struct Url {
  bool tls = false;
  std::string host, port, prefix;
};

bool parseUrl(const std::string& u, Url& out) {
  std::string rest;
  if (u.rfind("http://", 0) == 0) rest = u.substr(7);
  else if (u.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = u.substr(8);
  } else return false;
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) return false;
    out.host = hostport.substr(1, close - 1);
    out.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "";
  } else {
    auto colon = hostport.rfind(':');
    out.host = hostport.substr(0, colon);
    out.port = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (out.port.empty()) out.port = out.tls ? "443" : "80";
  return !out.host.empty();
}

template <class Stream>
awaitable<void> exchange(Stream& s, http::request<http::string_body>& req, HttpReply& out,
                         beast::error_code& ec) {
  co_await http::async_write(s, req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  co_await http::async_read(s, buf, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  out.contentType = std::string(res[http::field::content_type]);
}

// After the request: the header, then the body as it comes, parsed as SSE.
template <class Stream>
awaitable<void> streamExchange(Stream& s, http::request<http::string_body>& req,
                               const std::function<bool(const SseMessage&)>& onMessage,
                               std::chrono::milliseconds idle, StreamEnd& out, beast::error_code& ec) {
  co_await http::async_write(s, req, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  beast::flat_buffer buf;
  http::response_parser<http::empty_body> parser;
  co_await http::async_read_header(s, buf, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  out.status = static_cast<int>(parser.get().result_int());
  std::string text(static_cast<const char*>(buf.data().data()), buf.data().size());
  buf.consume(buf.size());
  char chunk[16384];
  if (out.status != 200) {
    // A short JSON error, delimited by its Content-Length or the close.
    for (int i = 0; i < 64 && text.size() < 65536; ++i) {
      beast::get_lowest_layer(s).expires_after(std::chrono::seconds(10));
      auto n = co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
      text.append(chunk, n);
      if (ec) break;
    }
    ec = {};
    out.error = text;
    auto at = text.find("\"error\":\"");
    if (at != std::string::npos) {
      auto end = text.find('"', at + 9);
      out.error = text.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
    }
    co_return;
  }
  for (;;) {
    if (!parseSse(text, onMessage)) {
      out.stopped = true;
      co_return;
    }
    beast::get_lowest_layer(s).expires_after(idle);
    auto n = co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    text.append(chunk, n);
  }
}

// TLS to the daemon: the system CAs, or only those of CA_FILE; the peer is always verified.
// Returns an error message, empty when the context is ready.
std::string verifyPeers(asio::ssl::context& ssl, const std::string& caFile) {
  boost::system::error_code ec;
  if (caFile.empty()) {
    ssl.set_default_verify_paths(ec);
  } else {
    // OpenSSL says only "asio.ssl error" for a missing file: name the reason ourselves.
    if (::access(caFile.c_str(), R_OK) != 0) return "cannot read CA file " + caFile + ": " + std::strerror(errno);
    ssl.load_verify_file(caFile, ec);
    if (ec) return "cannot load CA certificates from " + caFile + ": " + ec.message();
  }
  ssl.set_verify_mode(asio::ssl::verify_peer);
  return "";
}

}  // namespace

bool parseSse(std::string& buf, const std::function<bool(const SseMessage&)>& onMessage) {
  for (;;) {
    // A message ends at a blank line (\n\n; \r\n\r\n from other servers).
    std::size_t end = buf.find("\n\n");
    std::size_t sep = 2;
    auto crlf = buf.find("\r\n\r\n");
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) {
      end = crlf;
      sep = 4;
    }
    if (end == std::string::npos) return true;
    std::string block = buf.substr(0, end);
    buf.erase(0, end + sep);
    SseMessage m;
    bool any = false;
    std::size_t pos = 0;
    while (pos <= block.size()) {
      auto nl = block.find('\n', pos);
      std::string line = block.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos = nl == std::string::npos ? block.size() + 1 : nl + 1;
      if (line.empty() || line[0] == ':') continue;
      auto colon = line.find(':');
      std::string field = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (field == "data") {
        m.data += (any ? "\n" : "") + value;
        any = true;
      } else if (field == "event") {
        m.event = value;
      } else if (field == "id") {
        try {
          m.id = std::stoll(value);
        } catch (const std::exception&) {
        }
      }
    }
    if (any && !onMessage(m)) return false;
  }
}

Result<StreamEnd> httpStream(const ClientTarget& t, const std::string& target,
                             const std::function<bool(const SseMessage&)>& onMessage,
                             std::chrono::milliseconds connectTimeout, std::chrono::milliseconds idleTimeout) {
  asio::io_context io;
  http::request<http::string_body> req;
  req.method(http::verb::get);
  req.version(11);
  req.set(http::field::user_agent, "tendctl");
  req.set(http::field::accept, "text/event-stream");
  req.keep_alive(false);
  if (!t.token.empty()) req.set(http::field::authorization, "Bearer " + t.token);
  StreamEnd out;
  beast::error_code ec;
  std::string stage = "connect to";
  std::string failure;
  auto onDone = [&failure](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      failure = x.what();
    }
  };
  if (t.url.empty()) {
    req.target(target);
    req.set(http::field::host, "localhost");
    req.prepare_payload();
    beast::basic_stream<asio::local::stream_protocol> s(io);
    s.expires_after(connectTimeout);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          co_await s.async_connect(asio::local::stream_protocol::endpoint(t.socket),
                                   asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          stage = "read events from";
          co_await streamExchange(s, req, onMessage, idleTimeout, out, ec);
        },
        onDone);
    io.run();
  } else {
    Url u;
    if (!parseUrl(t.url, u)) return makeError("bad URL '" + t.url + "' (want http://HOST:PORT)");
    req.target(u.prefix + target);
    req.set(http::field::host, u.host + ":" + u.port);
    req.prepare_payload();
    asio::ssl::context ssl(asio::ssl::context::tls_client);
    if (u.tls) {
      if (std::string e = verifyPeers(ssl, t.caFile); !e.empty()) return makeError(e);
    }
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream plain(io);
    beast::ssl_stream<beast::tcp_stream> secure(io, ssl);
    auto& lowest = u.tls ? beast::get_lowest_layer(secure) : plain;
    lowest.expires_after(connectTimeout);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          auto eps = co_await resolver.async_resolve(u.host, u.port, asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          co_await lowest.async_connect(eps, asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          stage = "read events from";
          if (u.tls) {
            SSL_set_tlsext_host_name(secure.native_handle(), u.host.c_str());
            secure.set_verify_callback(asio::ssl::host_name_verification(u.host));
            co_await secure.async_handshake(asio::ssl::stream_base::client,
                                            asio::redirect_error(use_awaitable, ec));
            if (ec) co_return;
            co_await streamExchange(secure, req, onMessage, idleTimeout, out, ec);
          } else {
            co_await streamExchange(plain, req, onMessage, idleTimeout, out, ec);
          }
        },
        onDone);
    io.run();
  }
  if (!failure.empty()) return makeError("cannot " + stage + " tendd at " + t.describe() + ": " + failure);
  if (ec && !(ec == asio::error::eof || ec == http::error::end_of_stream) )
    return makeError("cannot " + stage + " tendd at " + t.describe() + ": " + ec.message());
  if (ec && stage == "connect to")
    return makeError("cannot connect to tendd at " + t.describe() + ": " + ec.message());
  return out;
}

Result<HttpReply> httpCall(const ClientTarget& t, const std::string& method, const std::string& target,
                           const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context io;
  http::request<http::string_body> req;
  req.method(http::string_to_verb(method));
  req.version(11);
  req.set(http::field::user_agent, "tendctl");
  req.keep_alive(false);
  if (!t.token.empty()) req.set(http::field::authorization, "Bearer " + t.token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  HttpReply out;
  beast::error_code ec;
  std::string stage = "connect to";
  std::string failure;
  auto onDone = [&failure](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      failure = x.what();
    }
  };

  if (t.url.empty()) {
    req.target(target);
    req.set(http::field::host, "localhost");
    req.prepare_payload();
    beast::basic_stream<asio::local::stream_protocol> s(io);
    s.expires_after(timeout);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          co_await s.async_connect(asio::local::stream_protocol::endpoint(t.socket),
                                   asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          stage = "talk to";
          co_await exchange(s, req, out, ec);
        },
        onDone);
    io.run();
  } else {
    Url u;
    if (!parseUrl(t.url, u)) return makeError("bad URL '" + t.url + "' (want http://HOST:PORT)");
    req.target(u.prefix + target);
    req.set(http::field::host, u.host + ":" + u.port);
    req.prepare_payload();
    asio::ssl::context ssl(asio::ssl::context::tls_client);
    if (u.tls) {
      if (std::string e = verifyPeers(ssl, t.caFile); !e.empty()) return makeError(e);
    }
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream plain(io);
    beast::ssl_stream<beast::tcp_stream> secure(io, ssl);
    auto& lowest = u.tls ? beast::get_lowest_layer(secure) : plain;
    lowest.expires_after(timeout);
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          auto eps = co_await resolver.async_resolve(u.host, u.port, asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          co_await lowest.async_connect(eps, asio::redirect_error(use_awaitable, ec));
          if (ec) co_return;
          stage = "talk to";
          if (u.tls) {
            SSL_set_tlsext_host_name(secure.native_handle(), u.host.c_str());
            secure.set_verify_callback(asio::ssl::host_name_verification(u.host));
            co_await secure.async_handshake(asio::ssl::stream_base::client,
                                            asio::redirect_error(use_awaitable, ec));
            if (ec) co_return;
            co_await exchange(secure, req, out, ec);
          } else {
            co_await exchange(plain, req, out, ec);
          }
        },
        onDone);
    io.run();
  }
  if (!failure.empty()) return makeError("cannot " + stage + " tendd at " + t.describe() + ": " + failure);
  if (ec) return makeError("cannot " + stage + " tendd at " + t.describe() + ": " + ec.message());
  return out;
}

}  // namespace tend::daemon
