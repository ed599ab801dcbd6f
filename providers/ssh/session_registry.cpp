#include "providers/ssh/session_registry.h"

#include "core/log.h"
#include "providers/ssh/settings.h"

namespace tend::ssh {

SessionRegistry::~SessionRegistry() {
  std::lock_guard lk(mu_);
  bridges_.clear();
  pools_.clear();
}

std::string SessionRegistry::keyOf(const std::string& user, const std::string& address, int port) {
  return user + "@" + address + ":" + std::to_string(port);
}

void SessionRegistry::configure(const nlohmann::json& sshConfig) {
  std::lock_guard lk(mu_);
  if (configured_ && config_ == sshConfig) return;
  config_ = sshConfig;
  configured_ = true;
  key_ = SecretString();
  pools_.clear();  // leases in use keep their pool alive (shared_ptr)
}

void SessionRegistry::addHost(const HostConfig& cfg) {
  std::lock_guard lk(mu_);
  explicit_[keyOf(cfg.user, cfg.address, cfg.port)] = cfg;
  pools_.erase(keyOf(cfg.user, cfg.address, cfg.port));
}

Result<std::shared_ptr<HostPool>> SessionRegistry::pool(const std::string& name, const std::string& address, int port,
                                                         const SecretResolver* secrets) {
  std::lock_guard lk(mu_);
  std::string user = config_.is_object() ? config_.value("user", std::string("root")) : "root";
  if (port <= 0) port = config_.is_object() && config_.contains("port") ? config_["port"].get<int>() : 22;
  std::string k = keyOf(user, address, port);
  if (auto it = pools_.find(k); it != pools_.end()) return it->second;
  HostConfig cfg;
  if (auto e = explicit_.find(k); e != explicit_.end()) {
    cfg = e->second;
  } else {
    if (!configured_) return makeError("host " + name + ": providers.ssh is not configured", true);
    nlohmann::json c = config_;
    bool secretKey = c.contains("private_key") && c["private_key"].is_string() &&
                     c["private_key"].get<std::string>().find("${secret:") != std::string::npos;
    if (secretKey && !secrets && !key_.empty()) c["private_key"] = key_.reveal();
    auto made = hostConfigFor(c, name, address, port, secrets);
    if (!made) return made.error();
    cfg = std::move(*made);
    if (secretKey && secrets) key_ = cfg.privateKey;
  }
  cfg.name = name.empty() ? address : name;
  auto p = std::make_shared<HostPool>(cfg);
  pools_[k] = p;
  return p;
}

Result<std::shared_ptr<HostPool>> SessionRegistry::byAddress(const HostAddress& host) {
  {
    std::lock_guard lk(mu_);
    if (auto it = pools_.find(keyOf(host.user.empty() ? "root" : host.user, host.host, host.port)); it != pools_.end())
      return it->second;
    if (!configured_ && !explicit_.count(keyOf(host.user.empty() ? "root" : host.user, host.host, host.port)))
      return makeError("no SSH session to " + host.describe() + ": providers.ssh is not configured", true);
    std::string user = config_.is_object() ? config_.value("user", std::string("root")) : "root";
    if (!host.user.empty() && host.user != user && !explicit_.count(keyOf(host.user, host.host, host.port)))
      return makeError("no SSH configuration for " + host.describe() + " (providers.ssh.user is " + user + ")", true);
  }
  return pool(host.host, host.host, host.port, nullptr);
}

void SessionRegistry::reap() {
  for (auto it = bridges_.begin(); it != bridges_.end();) {
    if (!(*it)->running()) it = bridges_.erase(it);
    else ++it;
  }
}

Result<int> SessionRegistry::openStream(const HostAddress& host, const std::string& unixSocketPath,
                                        std::chrono::steady_clock::time_point deadline) {
  auto p = byAddress(host);
  if (!p) return p.error();
  CallOptions o{deadline, nullptr};
  // The bridge's pump thread drives its own session (libssh sessions are single-threaded), so a
  // stream gets a session of its own, opened with the host's pool configuration.
  auto s = Session::open((*p)->config(), o);
  if (!s) return s.error();
  auto ch = (*s)->openStreamLocal(unixSocketPath, o);
  if (!ch) return ch.error();
  auto b = ChannelBridge::start(std::move(*s), std::move(*ch));
  if (!b) return b.error();
  int fd = (*b)->releaseLocalFd();
  std::lock_guard lk(mu_);
  reap();
  bridges_.push_back(std::move(*b));
  ++streams_;
  return fd;
}

Result<HostCommandResult> SessionRegistry::exec(const HostAddress& host, const std::vector<std::string>& argv,
                                                const std::string& input, std::chrono::milliseconds timeout) {
  auto p = byAddress(host);
  if (!p) return p.error();
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + shellQuote(a);
  auto r = (*p)->exec(cmd, CallOptions::within(timeout), input);
  if (!r) {
    if (r.error().message.find("timed out") != std::string::npos || r.error().message.find("deadline") != std::string::npos) {
      HostCommandResult t;
      t.timedOut = true;
      t.err = r.error().message;
      return t;
    }
    return r.error();
  }
  HostCommandResult out;
  out.exitCode = r->exitStatus;
  out.out = std::move(r->out);
  out.err = std::move(r->err);
  return out;
}

Result<std::optional<std::string>> SessionRegistry::readFile(const HostAddress& host, const std::string& path) {
  auto p = byAddress(host);
  if (!p) return p.error();
  return (*p)->readFile(path, CallOptions::within(std::chrono::seconds(60)));
}

Result<void> SessionRegistry::writeFile(const HostAddress& host, const std::string& path, const std::string& content,
                                        unsigned mode) {
  auto p = byAddress(host);
  if (!p) return p.error();
  WriteOptions w;
  w.mode = mode;
  return (*p)->writeFileAtomic(path, content, w, CallOptions::within(std::chrono::seconds(60)));
}

size_t SessionRegistry::streamsOpened() const {
  std::lock_guard lk(mu_);
  return streams_;
}

}  // namespace tend::ssh
