#pragma once
// The HTTP/1.1 server tendd serves its API with: Boost.Beast coroutines on one io_context,
// the same routes over TCP (optionally TLS) and a unix socket. Every socket operation has a
// deadline, request bodies are limited, connections are bounded; handlers must not block
// (they offload blocking work and co_await it).
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>

#include "core/result.h"

namespace tend::daemon {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

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
};

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

// Splits "ADDR:PORT" / "[v6]:PORT" / ":PORT".
bool parseAddrPort(const std::string& s, std::string& addr, unsigned short& port);

}  // namespace tend::daemon
