// tendd: parse flags, configure logging, hand over to daemon::Daemon. Nothing else lives here.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/engine.h"
#include "core/log.h"
#include "core/secrets/sops.h"
#include "core/spec.h"
#include "daemon/server/daemon.h"
#include "providers/builtin.h"
#include "providers/docker/policy.h"
#include "state/sqlite_state_store.h"

namespace {

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// systemd may pass several directories separated by ':'; the first is ours.
std::string firstDir(const std::string& v) { return v.substr(0, v.find(':')); }

int usage(const std::string& why) {
  std::cerr << "tendd: " << why << " (see tendd --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tend;
  using namespace tend::daemon;
  CLI::App app{"tendd — reconcile a homelab towards its spec, forever"};
  app.set_version_flag("--version", std::string("tendd ") + TEND_VERSION);

  DaemonOptions o;
  std::string specGit, specBranch = "main", specPath, gitPoll = "1m", interval, logFormat = "text",
                       logLevel = "info", headerTimeout, idleTimeout, grace;
  std::size_t maxConnections = 4096, maxPerClient = 1024;
  std::string policyFile;
  std::vector<std::string> allowedHosts;
  const std::string stateDefault = std::getenv("STATE_DIRECTORY")
                                       ? firstDir(std::getenv("STATE_DIRECTORY")) + "/tend.db"
                                       : "./var/tend.db";
  const std::string socketDefault = std::getenv("RUNTIME_DIRECTORY")
                                        ? firstDir(std::getenv("RUNTIME_DIRECTORY")) + "/tendd.sock"
                                        : "./var/tendd.sock";
  o.statePath = stateDefault;
  o.socketPath = socketDefault;
  o.ageKeyFile = envOr("TEND_AGE_KEY_FILE", envOr("SOPS_AGE_KEY_FILE", ""));

  auto* spec = app.add_option("--spec", o.specDir, "spec directory (one environment), e.g. specs/local");
  auto* git = app.add_option("--spec-git", specGit, "follow this Git repository instead of --spec");
  spec->excludes(git);
  app.add_option("--spec-branch", specBranch, "branch to follow (default main)");
  app.add_option("--spec-path", specPath, "spec directory inside the repository");
  app.add_option("--git-poll", gitPoll, "how often to fetch the repository (default 1m)");
  app.add_option("--webhook-secret-file", o.webhookSecretFile,
                 "HMAC secret for POST /v1/hooks/git (GitHub and Gitea signatures)");
  app.add_option("--state", o.statePath, "SQLite state database (default $STATE_DIRECTORY/tend.db, else ./var/tend.db)");
  app.add_option("--listen", o.listen, "HTTP address ADDR:PORT, or 'off' (default 127.0.0.1:9469)");
  app.add_option("--socket", o.socketPath, "unix socket, mode 0600, or 'off' (default ./var/tendd.sock)");
  app.add_option("--token-file", o.tokenFile, "bearer token required for mutating HTTP calls on TCP");
  app.add_option("--interval", interval, "periodic pass, e.g. 5m (default: the spec's reconcile.interval)");
  app.add_flag("--dry-run", o.dryRun, "observe and plan, never change anything");
  app.add_flag("--once", o.once, "one full pass, then exit 0 if every resource is ready, else 1");
  app.add_option("--log-format", logFormat, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", logLevel, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option("--tls-cert", o.tlsCert, "PEM certificate chain for the TCP listener");
  app.add_option("--tls-key", o.tlsKey, "PEM private key for the TCP listener");
  app.add_option("--age-key-file", o.ageKeyFile, "age identity for secrets (else TEND_AGE_KEY_FILE, SOPS_AGE_KEY_FILE)");
  app.add_option("--header-timeout", headerTimeout, "deadline for a request header (default 10s)");
  app.add_option("--idle-timeout", idleTimeout, "keep-alive idle timeout (default 60s)");
  app.add_option("--shutdown-grace", grace, "bounded wait for in-flight work on SIGTERM (default 10s)");
  app.add_option("--max-connections", maxConnections, "concurrent HTTP connections (default 4096)");
  app.add_option("--max-connections-per-client", maxPerClient,
                 "concurrent TCP connections from one address (default 1024)");
  app.add_option("--allowed-host", allowedHosts,
                 "a Host name TCP requests may carry besides IP literals and localhost (repeatable; "
                 "*.lan matches names under lan)");
  app.add_option("--policy", policyFile,
                 "operator policy for containers (YAML; default: no bind mounts of /, the Docker "
                 "socket or tend's own directories)");
  app.add_option("--workers", o.engine.workers, "threads for provider calls (default 8)")
      ->check(CLI::Range(1, 256));
  std::vector<std::string> callTimeouts;
  app.add_option("--call-timeout", callTimeouts,
                 "deadline of one provider call, PROVIDER=DURATION or DURATION for all (default 10m)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }

  if (o.specDir.empty() && specGit.empty()) return usage("one of --spec DIR or --spec-git URL is required");
  if (o.tlsCert.empty() != o.tlsKey.empty()) return usage("--tls-cert and --tls-key go together");
  if (specGit.empty() && (!specPath.empty() || !o.webhookSecretFile.empty()))
    return usage("--spec-path and --webhook-secret-file need --spec-git");
  std::chrono::seconds d;
  if (!specGit.empty()) {
    o.git = GitSourceOptions{specGit, specBranch, specPath, ""};
    if (!parseDuration(gitPoll, d) || d.count() < 1) return usage("--git-poll: bad duration '" + gitPoll + "'");
    o.gitPoll = d;
  }
  if (!interval.empty()) {
    if (!parseDuration(interval, d) || d.count() < 1) return usage("--interval: bad duration '" + interval + "'");
    o.interval = d;
  }
  if (!headerTimeout.empty()) {
    if (!parseDuration(headerTimeout, d) || d.count() < 1) return usage("--header-timeout: bad duration");
    o.server.headerTimeout = d;
  }
  if (!idleTimeout.empty()) {
    if (!parseDuration(idleTimeout, d) || d.count() < 1) return usage("--idle-timeout: bad duration");
    o.server.idleTimeout = d;
  }
  if (!grace.empty()) {
    if (!parseDuration(grace, d)) return usage("--shutdown-grace: bad duration");
    o.shutdownGrace = d;
    o.engine.cancelGrace = std::min<std::chrono::milliseconds>(o.engine.cancelGrace, d);
  }
  for (const auto& ct : callTimeouts) {
    auto eq = ct.find('=');
    std::string name = eq == std::string::npos ? "" : ct.substr(0, eq);
    std::string dur = eq == std::string::npos ? ct : ct.substr(eq + 1);
    if (!parseDuration(dur, d) || d.count() < 1) return usage("--call-timeout: bad duration '" + dur + "'");
    if (name.empty()) o.engine.callTimeout = d;
    else o.engine.callTimeouts[name] = d;
  }
  o.server.maxConnections = maxConnections;
  o.server.maxPerClient = maxPerClient;
  o.server.allowedHosts = allowedHosts;
  if (o.listen == "off") o.listen.clear();
  if (o.socketPath == "off") o.socketPath.clear();

  log::Level level = log::Level::Info;
  log::parseLevel(logLevel, level);
  log::configure(level, logFormat == "json" ? log::Format::Json : log::Format::Text);

  // The policy's default refuses binds of the daemon's own files besides the usual ones.
  std::vector<std::string> ownPaths;
  {
    std::error_code ec;
    auto abs = [&](const std::string& p) {
      if (!p.empty()) ownPaths.push_back(std::filesystem::absolute(p, ec).lexically_normal().string());
    };
    abs(std::filesystem::path(o.statePath).parent_path().string().empty()
            ? std::string(".")
            : std::filesystem::path(o.statePath).parent_path().string());
    abs(o.tokenFile);
    abs(o.webhookSecretFile);
    abs(o.ageKeyFile);
  }
  const docker::ContainerPolicy policyDefaults = docker::defaultContainerPolicy(ownPaths);
  if (!policyFile.empty()) {
    // Checked at start-up so a broken policy is a configuration error, not a refused spec.
    auto pl = docker::loadContainerPolicy(policyFile, policyDefaults);
    if (!pl.policy) {
      for (const auto& d : pl.diagnostics) std::cerr << d.str() << "\n";
      return usage("--policy: " + policyFile + " is not a valid policy");
    }
  }

  DaemonHooks h;
  h.loader = [policyFile, policyDefaults](const std::string& dir, const LoadOptions& lo) {
    auto r = loadSpecDir(dir, lo);
    docker::enforcePolicyFile(r, policyFile, policyDefaults);
    return r;
  };
  h.engineFactory = [](EngineDeps d, EngineOptions eo) { return makeEngine(std::move(d), eo); };
  h.secretsOpener = [](const std::string& file, const std::string& key) {
    return secrets::openSopsFile(file, key);
  };
  // A --once run is one of many short starts (a timer, a CI job): its few pages stay in the
  // WAL for the next start to read, and a close checkpoints only once they reach 128 pages.
  SqliteStateOptions so;
  if (o.once) so.keepWalBelowFrames = 128;
  h.openState = [so](const std::string& path) { return openSqliteStateStore(path, so); };
  h.registerProviders = [](ProviderRegistry& r) { registerBuiltinProviders(r); };
  Daemon daemon(std::move(o), std::move(h));
  return daemon.run();
}
