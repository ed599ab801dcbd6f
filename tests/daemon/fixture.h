#pragma once
// Test doubles and a running-daemon fixture for tests/daemon. The engine and the spec loader
// are fakes (the real ones have their own tests); everything else — HTTP server, controller,
// triggers, metrics, run queue — is the real daemon code, serving on loopback.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/engine.h"
#include "core/spec.h"
#include "daemon/server/daemon.h"
#include "core/log.h"
#include "daemon/client/http_client.h"

namespace tend::test {

class MemoryStateStore final : public StateStore {
 public:
  Result<std::vector<ResourceRecord>> loadResources() override {
    std::lock_guard lk(mu_);
    std::vector<ResourceRecord> out;
    for (auto& [k, v] : res_) out.push_back(v);
    return out;
  }
  Result<std::optional<ResourceRecord>> getResource(const std::string& id) override {
    std::lock_guard lk(mu_);
    auto it = res_.find(id);
    if (it == res_.end()) return std::optional<ResourceRecord>{};
    return std::optional<ResourceRecord>{it->second};
  }
  Result<void> recordApply(const ResourceRecord& rec, const EventRecord& ev) override {
    putResource(rec);
    appendEvent(ev);
    return {};
  }
  Result<void> putResource(const ResourceRecord& rec) override {
    std::lock_guard lk(mu_);
    res_[rec.id] = rec;
    return {};
  }
  Result<void> deleteResource(const std::string& id) override {
    std::lock_guard lk(mu_);
    res_.erase(id);
    return {};
  }
  Result<int64_t> beginRun(const RunRecord& run) override {
    std::lock_guard lk(mu_);
    RunRecord r = run;
    r.id = ++runSeq_;
    runs_.push_back(r);
    return r.id;
  }
  Result<void> finishRun(const RunRecord& run) override {
    std::lock_guard lk(mu_);
    for (auto& r : runs_)
      if (r.id == run.id) r = run;
    return {};
  }
  Result<std::optional<RunRecord>> lastRun() override {
    std::lock_guard lk(mu_);
    if (runs_.empty()) return std::optional<RunRecord>{};
    return std::optional<RunRecord>{runs_.back()};
  }
  Result<int64_t> appendEvent(const EventRecord& ev) override {
    std::lock_guard lk(mu_);
    EventRecord e = ev;
    e.id = static_cast<int64_t>(events_.size()) + 1;
    events_.push_back(e);
    return e.id;
  }
  Result<std::vector<EventRecord>> eventsSince(int64_t since, int limit) override {
    std::lock_guard lk(mu_);
    std::vector<EventRecord> out;
    for (const auto& e : events_)
      if (e.id > since && static_cast<int>(out.size()) < limit) out.push_back(e);
    return out;
  }
  Result<std::optional<std::string>> getMeta(const std::string& key) override {
    std::lock_guard lk(mu_);
    auto it = meta_.find(key);
    if (it == meta_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<void> setMeta(const std::string& key, const std::string& value) override {
    std::lock_guard lk(mu_);
    meta_[key] = value;
    return {};
  }

 private:
  std::mutex mu_;
  std::map<std::string, ResourceRecord> res_;
  std::vector<RunRecord> runs_;
  std::vector<EventRecord> events_;
  std::map<std::string, std::string> meta_;
  int64_t runSeq_ = 0;
};

// Shared between a test and the fake engine it configured.
struct EngineScript {
  std::atomic<int> runs{0};
  std::atomic<int> runMillis{0};  // how long a pass takes (cancellable)
  std::atomic<int> plans{0};       // plan() calls (each observes every provider in tendd)
  std::atomic<int> planMillis{0};  // how long a plan takes
  std::mutex mu;
  std::vector<RunRequest> requests;
  std::string lastRevision;
  // What the fake engine hands over unredacted, for the daemon's own redaction to catch: a
  // diff on every planned action, and one more event message per pass.
  nlohmann::json planDiff;
  std::string extraEventMessage;
};

class FakeEngine final : public Engine {
 public:
  FakeEngine(EngineDeps d, std::shared_ptr<EngineScript> s) : deps_(std::move(d)), script_(std::move(s)) {}
  void setDesired(DesiredGraphPtr g) override {
    std::lock_guard lk(mu_);
    graph_ = std::move(g);
    std::lock_guard lk2(script_->mu);
    script_->lastRevision = graph_->revision;
  }
  DesiredGraphPtr desired() const override {
    std::lock_guard lk(mu_);
    return graph_;
  }
  // Blocking, like a run of the real engine seen from its waiter: the daemon tests look at the
  // controller with an engine that holds each run for runMillis.
  int64_t start(const RunRequest& req, std::function<void(const RunResult&)> onDone) override {
    auto r = run(req);
    if (onDone) onDone(r);
    return r.runId;
  }
  RunResult run(const RunRequest& req) override {
    cancelled_ = false;
    RunRecord rec;
    rec.startedUnixMs = nowMs();
    rec.result = "running";
    rec.trigger = req.trigger;
    {
      std::lock_guard lk(mu_);
      rec.revision = graph_ ? graph_->revision : "";
    }
    auto id = deps_.state->beginRun(rec);
    rec.id = id.ok() ? *id : 0;
    {
      std::lock_guard lk(script_->mu);
      script_->requests.push_back(req);
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(script_->runMillis.load());
    while (std::chrono::steady_clock::now() < until && !cancelled_)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    RunResult r;
    r.runId = rec.id;
    r.startedUnixMs = rec.startedUnixMs;
    r.result = cancelled_ ? "cancelled" : "success";
    {
      std::lock_guard lk(mu_);
      for (const auto& res : graph_->resources) {
        ready_[res.id] = !cancelled_;
        ++r.ready;
      }
    }
    r.finishedUnixMs = nowMs();
    rec.finishedUnixMs = r.finishedUnixMs;
    rec.result = r.result;
    deps_.state->finishRun(rec);
    EventRecord ev;
    ev.unixMs = r.finishedUnixMs;
    ev.level = "info";
    ev.reason = "RunFinished";
    ev.message = "run " + std::to_string(r.runId) + " " + r.result;
    ev.runId = r.runId;
    deps_.state->appendEvent(ev);
    {
      std::lock_guard lk(script_->mu);
      if (!script_->extraEventMessage.empty()) {
        ev.reason = "Updated";
        ev.message = script_->extraEventMessage;
        deps_.state->appendEvent(ev);
      }
    }
    if (deps_.metrics) deps_.metrics->runFinished(r.result, 0.01);
    script_->runs++;
    return r;
  }
  Result<std::vector<PlannedAction>> plan(const std::vector<std::string>&) override {
    script_->plans++;
    std::this_thread::sleep_for(std::chrono::milliseconds(script_->planMillis.load()));
    std::vector<PlannedAction> out;
    std::lock_guard lk(mu_);
    for (const auto& res : graph_->resources) {
      PlannedAction a;
      a.id = res.id;
      a.kind = res.kind;
      a.action = ready_[res.id] ? Action::Noop : Action::Create;
      a.reason = ready_[res.id] ? "up to date" : "absent";
      std::lock_guard lk2(script_->mu);
      a.diff = script_->planDiff;
      out.push_back(a);
    }
    return out;
  }
  std::vector<ResourceStatus> status() const override {
    std::vector<ResourceStatus> out;
    std::lock_guard lk(mu_);
    if (!graph_) return out;
    for (const auto& res : graph_->resources) {
      ResourceStatus s;
      s.id = res.id;
      s.kind = res.kind;
      auto it = ready_.find(res.id);
      s.phase = it != ready_.end() && it->second ? "ready" : "pending";
      s.dependsOn = res.dependsOn;
      out.push_back(s);
    }
    return out;
  }
  void cancel() override { cancelled_ = true; }

 private:
  static int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  EngineDeps deps_;
  std::shared_ptr<EngineScript> script_;
  mutable std::mutex mu_;
  DesiredGraphPtr graph_;
  std::map<std::string, bool> ready_;
  std::atomic<bool> cancelled_{false};
};

// The fake spec language: spec.txt holds one resource id per line; a line "INVALID" makes the
// spec fail with a located error; "interval N" sets reconcile.interval.
inline LoadResult fakeLoad(const std::string& dir, const LoadOptions& lo) {
  LoadResult lr;
  std::ifstream in(dir + "/spec.txt");
  if (!in) {
    lr.diagnostics.push_back(Diagnostic{Severity::Error, Location{dir + "/spec.txt", 0, 0}, "missing"});
    return lr;
  }
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "test";
  g->specDir = dir;
  std::string line, all;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    all += line + "\n";
    if (line.empty()) continue;
    if (line == "INVALID") {
      lr.diagnostics.push_back(Diagnostic{Severity::Error, Location{dir + "/spec.txt", n, 1}, "invalid line"});
      continue;
    }
    if (line.rfind("interval ", 0) == 0) {
      g->intervalSeconds = std::stoi(line.substr(9));
      continue;
    }
    DesiredResource r;
    r.id = line;
    r.kind = kindOfId(line);
    r.provider = "fake";
    r.hash = std::to_string(std::hash<std::string>{}(line));
    g->resources.push_back(r);
  }
  if (!lr.diagnostics.empty()) return lr;
  g->revision = lo.revision.empty() ? "h" + std::to_string(std::hash<std::string>{}(all) % 1000000007) : lo.revision;
  g->reindex();
  lr.graph = g;
  return lr;
}

inline void writeFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::trunc) << content;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tend-daemon-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A tendd on 127.0.0.1:<free port> and a unix socket in a temp dir, with fakes for the engine
// and spec loader. The constructor waits until the first pass ended (or the first load failed).
class RunningDaemon {
 public:
  struct Setup {
    std::string spec = "container/app/web\ncontainer/app/db\n";
    bool withToken = true;
    std::string webhookSecret;
    int runMillis = 0;
    std::chrono::milliseconds headerTimeout{10000};
    std::size_t maxConnections = 4096;
    std::size_t maxPerClient = 1024;
    std::vector<std::string> allowedHosts;
    std::chrono::milliseconds writeTimeout{30000};
    bool waitReady = true;
  };

  explicit RunningDaemon(Setup s) : script(std::make_shared<EngineScript>()) {
    log::configure(log::Level::Warn, log::Format::Text);
    script->runMillis = s.runMillis;
    specDir = dir.path() + "/spec";
    std::filesystem::create_directories(specDir);
    writeFile(specDir + "/spec.txt", s.spec);
    daemon::DaemonOptions o;
    o.specDir = specDir;
    o.statePath = dir.path() + "/state/tend.db";
    o.listen = "127.0.0.1:0";
    o.socketPath = dir.path() + "/tendd.sock";
    socket = o.socketPath;
    if (s.withToken) {
      token = "test-token-0123456789";
      writeFile(dir.path() + "/token", token + "\n");
      o.tokenFile = dir.path() + "/token";
    }
    if (!s.webhookSecret.empty()) {
      writeFile(dir.path() + "/hook", s.webhookSecret);
      o.webhookSecretFile = dir.path() + "/hook";
    }
    o.server.headerTimeout = s.headerTimeout;
    o.server.maxConnections = s.maxConnections;
    o.server.maxPerClient = s.maxPerClient;
    o.server.allowedHosts = s.allowedHosts;
    o.server.writeTimeout = s.writeTimeout;
    o.shutdownGrace = std::chrono::milliseconds(3000);
    o.debounce = std::chrono::milliseconds(100);
    daemon::DaemonHooks h;
    h.loader = fakeLoad;
    auto sc = script;
    h.engineFactory = [sc](EngineDeps d, EngineOptions) -> std::unique_ptr<Engine> {
      return std::make_unique<FakeEngine>(std::move(d), sc);
    };
    h.openState = [](const std::string&) -> Result<std::unique_ptr<StateStore>> {
      return std::unique_ptr<StateStore>(std::make_unique<MemoryStateStore>());
    };
    d = std::make_unique<daemon::Daemon>(std::move(o), std::move(h));
    thread = std::thread([this] { exitCode = d->run(); exited = true; });
    for (int i = 0; i < 500 && !d->listening() && !exited; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    port = d->tcpPort();
    if (s.waitReady) {
      for (int i = 0; i < 500; ++i) {
        auto r = get("/readyz");
        if (r.ok() && r->status == 200) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  ~RunningDaemon() { stop(); }

  int stop() {
    if (thread.joinable()) {
      d->requestShutdown();
      thread.join();
    }
    return exitCode;
  }

  daemon::ClientTarget tcp(bool withToken = false) const {
    daemon::ClientTarget t;
    t.url = "http://127.0.0.1:" + std::to_string(port);
    if (withToken) t.token = token;
    return t;
  }
  daemon::ClientTarget uds() const {
    daemon::ClientTarget t;
    t.socket = socket;
    return t;
  }
  Result<daemon::HttpReply> get(const std::string& path) const { return daemon::httpCall(tcp(), "GET", path); }

  TempDir dir;
  std::string specDir, socket, token;
  unsigned short port = 0;
  std::shared_ptr<EngineScript> script;
  std::unique_ptr<daemon::Daemon> d;
  std::thread thread;
  std::atomic<int> exitCode{-1};
  std::atomic<bool> exited{false};
};

}  // namespace tend::test
