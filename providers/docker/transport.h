#pragma once
// Where the Docker Engine API lives and how to open a byte stream to it.
//
// Every transport yields a connected generic stream socket, so one HTTP client serves all of
// them: unix sockets and TCP connect directly; an SSH transport (the ssh provider) can hand
// back one end of a socketpair whose other end it pumps through a libssh direct-streamlocal
// channel to the remote host's /var/run/docker.sock.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "core/result.h"

namespace tend::docker {

struct Endpoint {
  enum class Kind { Unix, Tcp, Ssh };
  Kind kind = Kind::Unix;
  std::string path;   // unix socket path (Unix; for Ssh the remote socket path)
  std::string host;   // Tcp/Ssh
  uint16_t port = 0;  // Tcp/Ssh
  std::string user;   // Ssh
  std::string raw;    // as written in the payload, used as the client key
};

// "unix:/var/run/docker.sock", "unix:///run/docker.sock", "tcp://h:2375", "ssh://u@h:22".
Result<Endpoint> parseEndpoint(const std::string& text);

using StreamSocket = boost::asio::generic::stream_protocol::socket;

// Opens one connection. Called on the client's io_context; must not block it.
class Connector {
 public:
  virtual ~Connector() = default;
  // On failure returns an error message in `err` and an unopened socket.
  virtual boost::asio::awaitable<StreamSocket> connect(
      boost::asio::any_io_executor ex, std::chrono::steady_clock::time_point deadline,
      std::string& err) = 0;
  virtual std::string describe() const = 0;
};

// unix and tcp; ssh yields a connector that fails with "ssh transport not available yet"
// unless a factory was installed with setSshConnectorFactory (the ssh provider does that).
std::unique_ptr<Connector> makeConnector(const Endpoint& ep);

using SshConnectorFactory = std::function<std::unique_ptr<Connector>(const Endpoint&)>;
void setSshConnectorFactory(SshConnectorFactory f);

}  // namespace tend::docker
