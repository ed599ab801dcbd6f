#pragma once
// Proxmox VE API client: HTTPS (OpenSSL through Boost.Beast), API-token auth, form-encoded
// bodies, the {"data": ...} envelope and classified errors (wire.h). Runs on its own
// io_context thread like the Docker client; callers on worker threads use send() (a future)
// or call() (blocking). Every call has a deadline and may carry a CancelToken; both abort the
// socket itself, so no call ever sleeps or polls. Idle keep-alive connections are reused.
//
// TLS is verified by default: against the system CAs, a CA file (the node's
// pve-root-ca.pem) with host name / IP checks, or a SHA-256 pin of the node's certificate
// checked during the handshake and again right after it, before any request byte is written.
// `insecure` turns verification off only when set explicitly.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "core/result.h"
#include "providers/proxmox/wire.h"

namespace tend::proxmox {

struct TlsSettings {
  std::string caFile;       // PEM file of CAs to trust (e.g. pve-root-ca.pem)
  std::string fingerprint;  // SHA-256 of the server certificate, "AA:BB:..." (64 hex digits)
  bool insecure = false;    // no verification at all (warned at every start)
};

struct ClientConfig {
  std::string host;         // from endpoint https://HOST:PORT
  uint16_t port = 8006;
  std::string tokenId;      // USER@REALM!TOKENID
  std::string tokenSecret;  // never logged
  TlsSettings tls;
};

// Cancels calls that hold it. Thread-safe; cancelling twice is harmless. A call started with
// an already cancelled token fails at once without touching the network.
class CancelToken {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  // Used by the client: `hook` runs once, on cancel (or at once if already cancelled).
  // Returns false when already cancelled.
  bool setHook(std::function<void()> hook);
  void clearHook();

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::function<void()> hook_;
};

struct Request {
  std::string method = "GET";  // GET POST PUT DELETE
  std::string path;            // below /api2/json, segments already encoded (pathSegment)
  Params params;               // query (GET/DELETE) or form body (POST/PUT)
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::shared_ptr<CancelToken> cancel;
};

struct Response {
  int status = 0;
  nlohmann::json data;  // the envelope's `data` on success
  ApiError error;       // kind None on success
  bool ok() const { return error.kind == ErrorKind::None; }
};

class Client {
 public:
  explicit Client(ClientConfig cfg);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Fails with a clear message when TLS settings cannot be used (unreadable CA file, bad pin).
  Result<void> ready() const;

  std::future<Response> send(Request req);
  Response call(Request req) { return send(std::move(req)).get(); }

  // One GET of a task's status (no waiting: the caller requeues while it runs).
  Response taskStatus(const std::string& node, const std::string& upid,
                      std::chrono::steady_clock::time_point deadline,
                      std::shared_ptr<CancelToken> cancel = nullptr);

  size_t connectionsOpened() const { return opened_.load(); }
  size_t requestsSent() const { return sent_.load(); }
  const ClientConfig& config() const { return cfg_; }

 private:
  struct Conn;
  struct Impl;
  ClientConfig cfg_;
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<Impl> impl_;
  // Lets a CancelToken reach the I/O thread safely: the destructor clears it (under its
  // mutex) before the io_context stops, so a late cancel() never posts to a dead context.
  struct PostTarget {
    std::mutex mu;
    boost::asio::io_context* ioc = nullptr;
  };
  std::shared_ptr<PostTarget> postTarget_ = std::make_shared<PostTarget>();
  std::atomic<size_t> opened_{0}, sent_{0};
  std::thread thread_;
  friend struct Impl;
};

// "AA:BB:..", "aabb..", "sha256:AA:BB" -> 64 lowercase hex digits, or an error.
Result<std::string> normalizeFingerprint(const std::string& text);

}  // namespace tend::proxmox
