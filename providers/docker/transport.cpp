#include "providers/docker/transport.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tend::docker {
namespace asio = boost::asio;

Result<Endpoint> parseEndpoint(const std::string& text) {
  Endpoint ep;
  ep.raw = text;
  auto hostPort = [&](std::string rest, uint16_t defPort) -> Result<void> {
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
      ep.path = rest.substr(slash);
      rest = rest.substr(0, slash);
    }
    auto at = rest.find('@');
    if (at != std::string::npos) {
      ep.user = rest.substr(0, at);
      rest = rest.substr(at + 1);
    }
    ep.port = defPort;
    std::string h = rest;
    if (!rest.empty() && rest[0] == '[') {  // [::1]:2375
      auto close = rest.find(']');
      if (close == std::string::npos) return makeError("bad docker endpoint '" + text + "'", true);
      h = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
      if (!rest.empty() && rest[0] == ':') rest = rest.substr(1); else rest.clear();
    } else {
      auto colon = rest.rfind(':');
      if (colon != std::string::npos) {
        h = rest.substr(0, colon);
        rest = rest.substr(colon + 1);
      } else {
        rest.clear();
      }
    }
    if (!rest.empty()) {
      try {
        int p = std::stoi(rest);
        if (p <= 0 || p > 65535) throw std::out_of_range("port");
        ep.port = static_cast<uint16_t>(p);
      } catch (const std::exception&) {
        return makeError("bad port in docker endpoint '" + text + "'", true);
      }
    }
    if (h.empty()) return makeError("no host in docker endpoint '" + text + "'", true);
    ep.host = h;
    return {};
  };
  if (text.rfind("unix://", 0) == 0) {
    ep.kind = Endpoint::Kind::Unix;
    ep.path = text.substr(7);
  } else if (text.rfind("unix:", 0) == 0) {
    ep.kind = Endpoint::Kind::Unix;
    ep.path = text.substr(5);
  } else if (text.rfind("tcp://", 0) == 0) {
    ep.kind = Endpoint::Kind::Tcp;
    auto r = hostPort(text.substr(6), 2375);
    if (!r) return r.error();
  } else if (text.rfind("ssh://", 0) == 0) {
    ep.kind = Endpoint::Kind::Ssh;
    auto r = hostPort(text.substr(6), 22);
    if (!r) return r.error();
    if (ep.path.empty()) ep.path = "/var/run/docker.sock";
  } else if (!text.empty() && text[0] == '/') {
    ep.kind = Endpoint::Kind::Unix;
    ep.path = text;
  } else {
    return makeError("unsupported docker endpoint '" + text +
                         "' (expected unix:/path, tcp://host:port or ssh://user@host:port)",
                     true);
  }
  if (ep.kind == Endpoint::Kind::Unix && ep.path.empty())
    return makeError("no socket path in docker endpoint '" + text + "'", true);
  return ep;
}

namespace {

class UnixConnector final : public Connector {
 public:
  explicit UnixConnector(std::string path) : path_(std::move(path)) {}
  asio::awaitable<StreamSocket> connect(asio::any_io_executor ex, std::chrono::steady_clock::time_point deadline,
                                        std::string& err) override {
    StreamSocket sock(ex);
    boost::system::error_code ec;
    asio::local::stream_protocol::endpoint lep(path_);
    asio::generic::stream_protocol::endpoint gep(lep);
    sock.open(gep.protocol(), ec);
    if (!ec) co_await sock.async_connect(gep, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      err = "cannot connect to docker at unix:" + path_ + ": " + ec.message();
      sock.close(ec);
    }
    co_return sock;
  }
  std::string describe() const override { return "unix:" + path_; }

 private:
  std::string path_;
};

class TcpConnector final : public Connector {
 public:
  TcpConnector(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  asio::awaitable<StreamSocket> connect(asio::any_io_executor ex, std::chrono::steady_clock::time_point deadline,
                                        std::string& err) override {
    StreamSocket sock(ex);
    boost::system::error_code ec;
    asio::ip::tcp::resolver res(ex);
    auto results = co_await res.async_resolve(host_, std::to_string(port_),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      err = "cannot resolve docker host " + host_ + ": " + ec.message();
      co_return sock;
    }
    for (const auto& r : results) {
      asio::generic::stream_protocol::endpoint gep(r.endpoint());
      sock.close(ec);
      sock.open(gep.protocol(), ec);
      if (ec) continue;
      // A timer bounds the connect: on expiry it cancels the pending connect.
      asio::steady_timer timer(ex);
      timer.expires_at(deadline);
      bool expired = false;
      timer.async_wait([&sock, &expired](boost::system::error_code e) {
        if (e) return;
        expired = true;
        boost::system::error_code ignored;
        sock.cancel(ignored);
      });
      co_await sock.async_connect(gep, asio::redirect_error(asio::use_awaitable, ec));
      timer.cancel();
      if (!ec) co_return sock;
      if (expired) {
        err = "timed out connecting to docker at tcp://" + host_ + ":" + std::to_string(port_);
        sock.close(ec);
        co_return sock;
      }
    }
    err = "cannot connect to docker at tcp://" + host_ + ":" + std::to_string(port_) + ": " +
          (ec ? ec.message() : std::string("no address"));
    sock.close(ec);
    co_return sock;
  }
  std::string describe() const override { return "tcp://" + host_ + ":" + std::to_string(port_); }

 private:
  std::string host_;
  uint16_t port_;
};

class UnavailableConnector final : public Connector {
 public:
  explicit UnavailableConnector(std::string why) : why_(std::move(why)) {}
  asio::awaitable<StreamSocket> connect(asio::any_io_executor ex, std::chrono::steady_clock::time_point deadline,
                                        std::string& err) override {
    err = why_;
    co_return StreamSocket(ex);
  }
  std::string describe() const override { return "unavailable"; }

 private:
  std::string why_;
};

// ssh:// rides on the daemon's host sessions (core/host_sessions.h): the session to the host
// opens a stream to the remote socket and hands back one end of it.
class SessionConnector final : public Connector {
 public:
  SessionConnector(HostSessions& sessions, const Endpoint& ep)
      : sessions_(sessions), host_{ep.user, ep.host, ep.port}, path_(ep.path), raw_(ep.raw) {}
  asio::awaitable<StreamSocket> connect(asio::any_io_executor ex, std::chrono::steady_clock::time_point deadline,
                                        std::string& err) override {
    StreamSocket sock(ex);
    // Blocking (a new session connects and authenticates first). This is the client's own
    // io thread, one per endpoint, so only requests to this same host wait, and they would
    // wait for this session anyway.
    Result<int> fd = sessions_.openStream(host_, path_, deadline);
    if (!fd) {
      err = "docker endpoint " + raw_ + ": " + fd.error().message;
      co_return sock;
    }
    boost::system::error_code ec;
    sock.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), *fd, ec);
    if (ec) {
      ::close(*fd);
      err = "docker endpoint " + raw_ + ": " + ec.message();
    }
    co_return sock;
  }
  std::string describe() const override { return raw_; }

 private:
  HostSessions& sessions_;
  HostAddress host_;
  std::string path_, raw_;
};

}  // namespace

std::unique_ptr<Connector> makeConnector(const Endpoint& ep, HostSessions* sessions) {
  switch (ep.kind) {
    case Endpoint::Kind::Unix: return std::make_unique<UnixConnector>(ep.path);
    case Endpoint::Kind::Tcp: return std::make_unique<TcpConnector>(ep.host, ep.port);
    case Endpoint::Kind::Ssh:
      if (sessions) return std::make_unique<SessionConnector>(*sessions, ep);
      return std::make_unique<UnavailableConnector>("docker endpoint " + ep.raw +
                                                    ": ssh transport not available (no host sessions)");
  }
  return std::make_unique<UnavailableConnector>("unknown transport");
}

}  // namespace tend::docker
