#pragma once
// Async Docker Engine API client (Boost.Beast, HTTP/1.1, keep-alive connection pool, chunked
// decoding, a deadline on every operation) running on its own io_context thread. Callers on
// the engine's worker pool use send() (a future) or call() (blocking); several send()s in
// flight share the pool, which is how observe issues its list calls concurrently.
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include "core/cancel.h"
#include "core/result.h"
#include "providers/docker/transport.h"

namespace tend::docker {

// The API version this client is written against at most; the server's version caps it.
inline constexpr const char* kClientMaxApiVersion = "1.41";
inline constexpr const char* kMinApiVersion = "1.41";

struct ApiRequest {
  std::string method = "GET";
  std::string target;  // unversioned, e.g. "/containers/json?all=1"; the client adds /vX.Y
  std::string body;    // body (Content-Type `contentType`) when non-empty
  std::string contentType = "application/json";  // /build sends application/x-tar
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // Streaming endpoints (image pull): called on the client thread with each complete line
  // of the body as it arrives. The body is still returned whole.
  std::function<void(const std::string& line)> onLine;
  bool versioned = true;
  // Cancelling it aborts the exchange in flight (the socket's pending read or write); null:
  // the calling thread's CancelScope, if any.
  std::shared_ptr<const CancelSignal> cancel;
};

// While alive, requests sent from this thread without their own `cancel` use this one: a
// provider call sets it once from its CallContext instead of threading it through every
// request it builds.
class CancelScope {
 public:
  explicit CancelScope(std::shared_ptr<const CancelSignal> s);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  static std::shared_ptr<const CancelSignal> current();

 private:
  std::shared_ptr<const CancelSignal> prev_;
};

struct ApiResponse {
  int status = 0;          // 0 = no HTTP response (transport failure)
  std::string body;
  std::string apiVersion;  // API-Version response header
  std::string error;       // transport error; "" when an HTTP response arrived
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // 304 = already started/stopped; treated as success by callers that say so.
  bool okOr304() const { return ok() || (error.empty() && status == 304); }
  // "docker: <message from the {"message": ...} envelope> (HTTP 404)" or the transport error.
  std::string errorText() const;
};

// Compares dotted versions numerically: -1, 0, 1.
int compareApiVersions(const std::string& a, const std::string& b);

class EngineClient {
 public:
  explicit EngineClient(Endpoint ep, std::unique_ptr<Connector> connector = nullptr);
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  std::future<ApiResponse> send(ApiRequest req);
  ApiResponse call(ApiRequest req) { return send(std::move(req)).get(); }

  // The negotiated API version ("" until the first successful /_ping).
  std::string apiVersion() const;
  const Endpoint& endpoint() const { return ep_; }

  // Counters for tests and benchmarks.
  size_t connectionsOpened() const { return opened_.load(); }
  size_t requestsSent() const { return sent_.load(); }

 private:
  struct Conn;
  struct Impl;
  Endpoint ep_;
  std::unique_ptr<Connector> connector_;
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<Impl> impl_;  // touched only on the io thread
  mutable std::mutex versionMu_;
  std::string version_;
  std::atomic<size_t> opened_{0}, sent_{0};
  std::thread thread_;

  friend struct Impl;
  void setVersion(const std::string& v);
};

}  // namespace tend::docker
