#pragma once
// The HTTP/1.1 server tendd serves its API with: Boost.Beast coroutines on one io_context,
// the same routes over TCP (optionally TLS) and a unix socket. Every socket operation has a
// deadline, request bodies are limited, connections are bounded; handlers must not block
// (they offload blocking work and co_await it).
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include "core/result.h"

namespace tend::daemon {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

// Where a streamed response (server-sent events) writes after its header. Every write has the
// server's write deadline: a client that stops reading is dropped, never waited for.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // False once the peer is gone or did not take the bytes within the write timeout. `data`
  // must stay alive until the write returns (a reference, not a by-value parameter: GCC 12
  // destroys by-value class parameters of coroutines twice in some co_await expressions).
  virtual boost::asio::awaitable<bool> write(const std::string& data) = 0;
};
// Produces a streamed body until it returns; the connection is closed then (the body is
// delimited by the close: no Content-Length, no keep-alive).
using StreamProducer = std::function<boost::asio::awaitable<void>(StreamSink&)>;

// A response body that is either owned text or a shared immutable buffer. The cached
// /v1/status body (130 KB with 1,000 resources) is served shared: a request then costs no
// copy of it in user space (each copy was a fresh >128 KiB allocation, i.e. an mmap, page
// faults and a memmove per request).
struct ResponseBody {
  class value_type {
   public:
    value_type() = default;
    value_type& operator=(std::string s) {
      owned_ = std::move(s);
      shared_.reset();
      stream_.reset();
      fd_ = -1;
      return *this;
    }
    // A streamed body (see StreamProducer) instead of a fixed one.
    void stream(StreamProducer p) {
      stream_ = std::make_shared<StreamProducer>(std::move(p));
      owned_.clear();
      shared_.reset();
      fd_ = -1;
    }
    const std::shared_ptr<StreamProducer>& producer() const { return stream_; }
    // `fd`, when >= 0, is a sealed memfd holding the same bytes and living as long as `s`'s
    // owner: the plain-TCP listener then sends the body with sendfile (no user-space copy
    // and no copy into the socket buffer).
    void share(std::shared_ptr<const std::string> s, int fd = -1) {
      shared_ = std::move(s);
      fd_ = shared_ ? fd : -1;
      owned_.clear();
    }
    int fd() const { return fd_; }
    std::string_view view() const { return shared_ ? std::string_view(*shared_) : std::string_view(owned_); }
    std::size_t size() const { return view().size(); }
    bool empty() const { return size() == 0; }
    std::string str() const { return std::string(view()); }

   private:
    std::string owned_;
    std::shared_ptr<const std::string> shared_;
    std::shared_ptr<StreamProducer> stream_;
    int fd_ = -1;
  };

  static std::uint64_t size(const value_type& v) { return v.size(); }

  // Hands Beast's serializer the whole body as one buffer (written together with the header).
  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(const http::header<isRequest, Fields>&, const value_type& b) : body_(b) {}
    void init(boost::beast::error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      ec = {};
      if (done_) return boost::none;
      done_ = true;
      auto v = body_.view();
      if (v.empty()) return boost::none;
      return std::make_pair(const_buffers_type(v.data(), v.size()), false);
    }

   private:
    const value_type& body_;
    bool done_ = false;
  };
};

using Response = http::response<ResponseBody>;

enum class Transport { Tcp, Unix };

using Handler = std::function<boost::asio::awaitable<Response>(Request, Transport)>;

struct ServerOptions {
  std::chrono::milliseconds headerTimeout{10000};  // whole request header, from its first byte
  std::chrono::milliseconds idleTimeout{60000};    // keep-alive wait for the next request
  std::chrono::milliseconds bodyTimeout{30000};
  std::chrono::milliseconds writeTimeout{30000};
  std::size_t bodyLimit = 1024 * 1024;             // 413 beyond
  std::size_t headerLimit = 16 * 1024;             // 431 beyond
  std::size_t maxConnections = 4096;               // beyond: accepted and closed at once
  // Of maxConnections, slots TCP clients can never take: the unix socket (the operator's way
  // in) still answers when TCP is flooded. Capped at a quarter of maxConnections.
  std::size_t unixReserved = 32;
  std::size_t maxPerClient = 1024;                 // TCP connections from one source address
  // Host header names served on TCP besides IP literals and localhost (DNS rebinding: a
  // browser that resolves an attacker's name to this address sends that name). "*.lan"
  // matches every name under lan. Other names get 421.
  std::vector<std::string> allowedHosts;
};

// Whether a TCP request's Host header (name[:port]) is served: absent, an IP literal,
// localhost or *.localhost, or one of `allowed` (case-insensitive; "*.suffix" wildcards).
bool hostAllowed(std::string_view host, const std::vector<std::string>& allowed);

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Handler handler, ServerOptions opts = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "127.0.0.1:9469", "[::1]:0", ":9469". Returns the bound port (useful with port 0).
  Result<unsigned short> listenTcp(const std::string& addrPort,
                                   std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  // Creates the socket file with mode 0600 (replacing a stale one).
  Result<void> listenUnix(const std::string& path);
  // Stop accepting; open connections finish their current request.
  void stopAccepting();
  std::size_t activeConnections() const;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

// Loads a PEM certificate chain and key for the TCP listener.
Result<std::shared_ptr<boost::asio::ssl::context>> makeTlsContext(const std::string& certFile,
                                                                   const std::string& keyFile);

// A read-only, sealed in-memory file holding `text` (for ResponseBody::share), or -1 when
// the kernel offers none. The caller closes it.
int sealedMemfd(std::string_view text);

// sendfile(2) that reports a connection the peer has closed as EPIPE instead of raising
// SIGPIPE (which would end the process).
ssize_t sendfileNoSignal(int sock, int fd, off_t* off, std::size_t n);

// Splits "ADDR:PORT" / "[v6]:PORT" / ":PORT".
bool parseAddrPort(const std::string& s, std::string& addr, unsigned short& port);

}  // namespace tend::daemon
