#pragma once
// tendd's composition root: it wires the parts (state store, metrics, spec source, controller,
// HTTP server, triggers, signals, systemd) and owns the shutdown sequence. The parts do the
// work; this class only connects them.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/state_store.h"
#include "daemon/server/controller.h"
#include "daemon/server/http_server.h"
#include "daemon/server/spec_source.h"

namespace tend::daemon {

struct DaemonOptions {
  std::string specDir;                 // --spec
  std::optional<GitSourceOptions> git; // --spec-git (workDir filled from the state dir)
  std::chrono::seconds gitPoll{60};
  std::string webhookSecretFile;
  std::string statePath;               // --state
  std::string listen = "127.0.0.1:9469";  // "" = no TCP listener
  std::string socketPath;              // "" = no unix socket
  std::string tokenFile;
  std::optional<std::chrono::seconds> interval;
  bool dryRun = false;
  bool once = false;
  std::string tlsCert, tlsKey;
  std::string ageKeyFile;
  ServerOptions server;
  std::chrono::milliseconds shutdownGrace{10000};
  std::chrono::milliseconds debounce{300};
  EngineOptions engine;
  int blockingThreads = 4;
};

// The real implementations by default (tendd main); tests substitute fakes.
struct DaemonHooks {
  SpecLoader loader;
  EngineFactory engineFactory;
  SecretsOpener secretsOpener;
  std::function<Result<std::unique_ptr<StateStore>>(const std::string& path)> openState;
  std::function<void(ProviderRegistry&)> registerProviders;
};

class Daemon {
 public:
  Daemon(DaemonOptions opts, DaemonHooks hooks);
  ~Daemon();
  // Blocks until shutdown. Exit code: 0 after SIGTERM/SIGINT (or --once with all ready),
  // 1 on failure.
  int run();
  // For tests: the same as SIGTERM; and the bound TCP port once listening (0 before).
  void requestShutdown();
  unsigned short tcpPort() const { return tcpPort_.load(); }
  bool listening() const { return listening_.load(); }

  struct Impl;

 private:
  DaemonOptions opts_;
  DaemonHooks hooks_;
  std::atomic<unsigned short> tcpPort_{0};
  std::atomic<bool> listening_{false};
  std::shared_ptr<Impl> impl_;
  std::mutex implMu_;
  bool shutdownRequested_ = false;
};

// "30s", "5m", "1h", "2h30m", plain seconds. False on bad input.
bool parseDuration(const std::string& s, std::chrono::seconds& out);

}  // namespace tend::daemon
