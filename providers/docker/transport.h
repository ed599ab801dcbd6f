#pragma once
// Where the Docker Engine API lives and how to open a byte stream to it.
//
// Every transport yields a connected generic stream socket, so one HTTP client serves all of
// them: unix sockets and TCP connect directly; ssh:// asks the daemon's host sessions
// (core/host_sessions.h) for a stream to the remote host's /var/run/docker.sock, so Docker
// shares the SSH provider's connection to that host.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "core/host_sessions.h"
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

// unix and tcp connect directly; ssh opens a stream to the remote socket through `sessions`
// (the daemon's host sessions; without them it fails with "ssh transport not available").
std::unique_ptr<Connector> makeConnector(const Endpoint& ep, HostSessions* sessions = nullptr);

}  // namespace tend::docker
