#include "daemon/server/daemon.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/log.h"
#include "core/secrets.h"
#include "daemon/server/api.h"
#include "daemon/server/auth.h"
#include "daemon/server/host_sessions.h"
#include "daemon/server/metrics.h"
#include "daemon/server/sd_notify.h"
#include "daemon/server/triggers.h"

namespace tend::daemon {
namespace asio = boost::asio;
namespace fs = std::filesystem;

struct Daemon::Impl {
  asio::io_context io{1};
  std::function<void()> shutdown;
};

bool parseDuration(const std::string& s, std::chrono::seconds& out) {
  if (s.empty()) return false;
  if (s.find_first_not_of("0123456789") == std::string::npos) {
    if (s.size() > 9) return false;
    out = std::chrono::seconds(std::stoll(s));
    return true;
  }
  long long total = 0, cur = 0;
  bool digits = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + (c - '0');
      if (cur > 100000000) return false;
      digits = true;
      continue;
    }
    if (!digits) return false;
    switch (c) {
      case 's': total += cur; break;
      case 'm': total += cur * 60; break;
      case 'h': total += cur * 3600; break;
      case 'd': total += cur * 86400; break;
      default: return false;
    }
    cur = 0;
    digits = false;
  }
  if (digits) return false;  // "5m3": trailing number without unit
  out = std::chrono::seconds(total);
  return true;
}

namespace {
void raiseFdLimit() {
  // 1,000 concurrent clients plus SQLite, inotify and provider connections.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}
// systemd's STATUS= line (systemctl status): what the daemon is enforcing after a load attempt.
std::string readyStatus(const Controller& ctl) {
  std::string err = ctl.specError();
  if (err.empty()) return "spec loaded";
  std::replace(err.begin(), err.end(), '\n', ' ');
  return std::string(ctl.hasValidSpec() ? "spec invalid, enforcing the last good one: "
                                        : "spec invalid, serving status only: ") +
         err;
}
}  // namespace

Daemon::Daemon(DaemonOptions opts, DaemonHooks hooks) : opts_(std::move(opts)), hooks_(std::move(hooks)) {}
Daemon::~Daemon() = default;

void Daemon::requestShutdown() {
  std::lock_guard lk(implMu_);
  shutdownRequested_ = true;
  if (impl_) asio::post(impl_->io, [i = impl_] { if (i->shutdown) i->shutdown(); });
}

int Daemon::run() {
  raiseFdLimit();
  // --- TLS first: a wrong certificate path is a configuration error to report before anything
  // else is opened.
  std::shared_ptr<asio::ssl::context> tls;
  if (!opts_.listen.empty() && !opts_.tlsCert.empty()) {
    auto t = makeTlsContext(opts_.tlsCert, opts_.tlsKey);
    if (!t.ok()) {
      log::error("TLS setup failed", {{"error", t.error().message}});
      return 1;
    }
    tls = *t;
  }

  // --- state
  std::error_code ec;
  fs::path statePath = fs::absolute(opts_.statePath, ec).lexically_normal();
  if (!fs::exists(statePath.parent_path(), ec)) {
    // A state directory tend creates is its own: the database holds the state of every
    // resource and, with --spec-git, the spec's clone. (One the operator made keeps its mode.)
    fs::create_directories(statePath.parent_path(), ec);
    ::chmod(statePath.parent_path().c_str(), 0700);
  }
  auto store = hooks_.openState(statePath.string());
  if (!store.ok()) {
    log::error("cannot open state database", {{"path", statePath.string()}, {"error", store.error().message}});
    return 1;
  }
  const std::string stateDir = statePath.parent_path().string();
  // The store's start-up check runs while a --once pass loads its spec (the pass waits for it
  // before it starts); a daemon knows the answer before it serves anything.
  if (!opts_.once) {
    if (auto v = (*store)->verified(); !v) {
      log::error("cannot open state database", {{"path", statePath.string()}, {"error", v.error().message}});
      return 1;
    }
  }

  // --- credentials (read once; never logged)
  std::string token, webhookSecret;
  if (!opts_.tokenFile.empty()) {
    auto t = readSecretFile(opts_.tokenFile);
    if (!t.ok()) {
      log::error("cannot read --token-file", {{"error", t.error().message}});
      return 1;
    }
    token = *t;
    Redactor::instance().add(token);
  }
  if (!opts_.webhookSecretFile.empty()) {
    auto t = readSecretFile(opts_.webhookSecretFile);
    if (!t.ok()) {
      log::error("cannot read --webhook-secret-file", {{"error", t.error().message}});
      return 1;
    }
    webhookSecret = *t;
    Redactor::instance().add(webhookSecret);
  }

  // --- parts
  ProviderRegistry registry;
  if (hooks_.registerProviders) hooks_.registerProviders(registry);
  std::vector<std::string> builtProviders;
  for (const auto& r : registry.all())
    if (r.factory) builtProviders.push_back(r.name);
  // --once serves nothing (no listener is opened): no metrics registry to fill.
  std::optional<Metrics> metrics;
  if (!opts_.once) metrics.emplace(builtProviders);
  std::unique_ptr<SpecSource> source;
  if (opts_.git) {
    GitSourceOptions g = *opts_.git;
    if (g.workDir.empty()) g.workDir = (fs::path(stateDir) / "spec-git").string();
    source = makeGitSpecSource(g);
  } else {
    source = makeDirSpecSource(fs::absolute(opts_.specDir, ec).lexically_normal().string());
  }
  // Connections to machines, shared by the providers; outlives the controller (and them).
  std::unique_ptr<HostSessions> hostSessions = makeDaemonHostSessions();
  ControllerDeps cd;
  cd.hostSessions = hostSessions.get();
  cd.state = store->get();
  cd.metrics = metrics ? &*metrics : nullptr;
  cd.registry = &registry;
  cd.source = source.get();
  cd.loader = hooks_.loader;
  cd.engineFactory = hooks_.engineFactory;
  cd.secretsOpener = hooks_.secretsOpener;
  ControllerOptions co;
  co.stateDir = stateDir;
  co.ageKeyFile = opts_.ageKeyFile;
  co.dryRun = opts_.dryRun;
  co.engine = opts_.engine;
  Controller ctl(std::move(cd), co);

  if (opts_.once) {
    log::info("one pass (--once)", {{"spec", source->describe()}, {"dry_run", opts_.dryRun ? "true" : "false"}});
    auto out = ctl.runOnce();
    if (!out.ran) {
      log::error("no pass was run", {{"reason", out.error}});
      return 1;
    }
    return out.result.result == "success" ? 0 : 1;
  }

  auto impl = std::make_shared<Impl>();
  {
    std::lock_guard lk(implMu_);
    impl_ = impl;
  }
  asio::io_context& io = impl->io;
  asio::thread_pool blocking(static_cast<std::size_t>(std::max(1, opts_.blockingThreads)));
  ApiOptions ao;
  ao.token = token;
  ao.webhookSecret = webhookSecret;
  Api api(ctl, ao, blocking);
  HttpServer server(io, [&api](Request r, Transport t) { return api.handle(std::move(r), t); }, opts_.server);

  std::string statusUrl;
  if (!opts_.listen.empty()) {
    auto port = server.listenTcp(opts_.listen, tls);
    if (!port.ok()) {
      log::error(port.error().message);
      return 1;
    }
    tcpPort_ = *port;
    std::string addr;
    unsigned short p0;
    parseAddrPort(opts_.listen, addr, p0);
    if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
    statusUrl = std::string(tls ? "https://" : "http://") + addr + ":" + std::to_string(*port);
    if (token.empty())
      log::info("no --token-file: mutating calls (reconcile) are accepted on the unix socket only");
  }
  std::string socketAbs;
  if (!opts_.socketPath.empty()) {
    socketAbs = fs::absolute(opts_.socketPath, ec).lexically_normal().string();
    fs::create_directories(fs::path(socketAbs).parent_path(), ec);
    if (auto r = server.listenUnix(socketAbs); !r.ok()) {
      log::error(r.error().message);
      return 1;
    }
  }
  listening_ = true;

  TriggerOptions to;
  to.interval = opts_.interval;
  to.gitPoll = opts_.gitPoll;
  to.watchDir = source->watchDir();
  to.debounce = opts_.debounce;
  Triggers triggers(io, ctl, to);

  ctl.onLoadAttempt = [&](bool first) {
    if (!first) return;
    systemd::notify("READY=1\nSTATUS=" + readyStatus(ctl));
  };
  ctl.onApplied = [&](const DesiredGraph&) { triggers.specApplied(); };

  // --- watchdog: pinged from the io thread, so a stalled event loop is noticed by systemd.
  asio::steady_timer watchdog(io);
  std::function<void()> armWatchdog;
  if (auto every = systemd::watchdogPingInterval(); every.count() > 0) {
    armWatchdog = [&, every] {
      watchdog.expires_after(every);
      watchdog.async_wait([&](const boost::system::error_code& e) {
        if (e) return;
        systemd::notify("WATCHDOG=1");
        armWatchdog();
      });
    };
    armWatchdog();
  }

  // --- shutdown: stop intake, cancel in-flight work, bounded wait, exit 0.
  std::atomic<bool> graceful{true};
  std::thread waiter;
  bool stopping = false;
  impl->shutdown = [&] {
    if (stopping) {
      log::warn("second stop signal: exiting now");
      graceful = false;
      io.stop();
      return;
    }
    stopping = true;
    systemd::notify("STOPPING=1");
    log::info("shutting down: no new work, cancelling the pass in flight",
              {{"grace_ms", std::to_string(opts_.shutdownGrace.count())}});
    server.stopAccepting();
    triggers.stop();
    watchdog.cancel();
    ctl.stopIntake();
    ctl.cancelInFlight();
    waiter = std::thread([&] {
      bool ended = ctl.join(opts_.shutdownGrace);
      if (!ended) graceful = false;
      asio::post(io, [&] { io.stop(); });
    });
  };
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code& e, int sig) {
      if (e) return;
      if (sig == SIGHUP) {
        log::info("SIGHUP: reloading the spec");
        // systemd (ExecReload=kill -HUP) waits for READY=1 after RELOADING=1: send it once
        // this job's spec load is done, not after its whole pass.
        systemd::notify("RELOADING=1\nSTATUS=reloading the spec\nMONOTONIC_USEC=" +
                        std::to_string(systemd::monotonicUsec()));
        Job j;
        j.reload = true;
        j.fetch = ctl.followsGit();
        j.trigger = "sighup";
        Waiter w;
        w.loaded = [&ctl] {
          systemd::notify("READY=1\nSTATUS=" + readyStatus(ctl));
        };
        j.waiters.push_back(std::move(w));
        ctl.submit(std::move(j));
      } else {
        impl->shutdown();
      }
      waitSignal();
    });
  };
  waitSignal();
  {
    std::lock_guard lk(implMu_);
    if (shutdownRequested_) asio::post(io, [&] { impl->shutdown(); });
  }

  ctl.start();
  Job startup;
  startup.reload = true;
  startup.fetch = ctl.followsGit();
  startup.trigger = "startup";
  ctl.submit(std::move(startup));
  if (auto r = triggers.start(); !r.ok()) log::warn(r.error().message);

  log::info("tendd started", {{"spec", source->describe()},
                              {"state", statePath.string()},
                              {"listen", statusUrl.empty() ? "off" : statusUrl},
                              {"socket", socketAbs.empty() ? "off" : socketAbs}});
  if (!statusUrl.empty() || !socketAbs.empty()) {
    std::string hint = "status: ";
    if (!statusUrl.empty()) hint += statusUrl + "/v1/status";
    if (!socketAbs.empty())
      hint += std::string(statusUrl.empty() ? "" : "  or  ") + "tendctl --socket " +
              opts_.socketPath + " status";
    log::info(hint);
  }

  io.run();

  if (waiter.joinable()) waiter.join();
  blocking.stop();
  blocking.join();
  if (!graceful) {
    log::error("in-flight work did not end within the grace period; exiting anyway");
    std::cerr.flush();
    std::_Exit(0);
  }
  log::info("tendd stopped");
  {
    std::lock_guard lk(implMu_);
    impl_.reset();
  }
  return 0;
}

}  // namespace tend::daemon
