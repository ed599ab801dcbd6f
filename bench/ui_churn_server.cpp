// bench_ui_churn_server: tendd's HTTP side (real server, controller, event streams, web page)
// over N fake resources that keep changing, for the UI tests (tests/scripts/ui_*.sh) and for
// measuring the event stream. The engine is a fake: apps of a network, a volume, a db and a
// web container, tiers "networking" and "apps", a failed db whose dependents are blocked (a
// blocked chain across two apps), one planned update with a diff, and a thread that flips
// phases and records events all the time.
// Usage: bench_ui_churn_server N WORKDIR PORTFILE [TOKENFILE]  — runs until SIGTERM.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "core/log.h"
#include "tests/daemon/fixture.h"

namespace {
using namespace tend;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DesiredGraphPtr makeGraph(int n) {
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "churn";
  g->revision = "churn-r1";
  g->tierNames = {"networking", "apps"};
  auto add = [&](std::string id, std::string kind, int tier, std::string app, std::vector<std::string> deps) {
    DesiredResource r;
    r.id = std::move(id);
    r.kind = std::move(kind);
    r.provider = "fake";
    r.host = "local";
    r.tier = tier;
    r.spec = nlohmann::json{{"app", app}};
    r.dependsOn = std::move(deps);
    r.hash = std::to_string(std::hash<std::string>{}(r.id));
    r.loc = Location{"apps.yml", static_cast<int>(g->resources.size()) + 1, 3};
    g->resources.push_back(std::move(r));
  };
  add("network/local/edge", "network", 0, "", {});
  for (int i = 0; static_cast<int>(g->resources.size()) < n; ++i) {
    const std::string a = "app" + std::to_string(i);
    add("network/local/" + a + "_default", "network", 1, a, {"network/local/edge"});
    add("volume/local/" + a + "_data", "volume", 1, a, {});
    add("container/" + a + "/db", "container", 1, a, {"network/local/" + a + "_default", "volume/local/" + a + "_data"});
    std::vector<std::string> webDeps{"container/" + a + "/db"};
    if (i == 2) webDeps.push_back("container/app1/web");  // app2 waits for app1: a chain across apps
    add("container/" + a + "/web", "container", 1, a, webDeps);
  }
  g->reindex();
  return g;
}

class ChurnEngine final : public Engine {
 public:
  ChurnEngine(EngineDeps d, int runMillis) : deps_(std::move(d)), runMillis_(runMillis) {
    churn_ = std::thread([this] { churn(); });
  }
  ~ChurnEngine() override {
    stop_ = true;
    churn_.join();
  }
  void setDesired(DesiredGraphPtr g) override {
    std::lock_guard lk(mu_);
    graph_ = std::move(g);
    for (const auto& r : graph_->resources) phase_.emplace(r.id, "ready");
    phase_["container/app1/db"] = "failed";
    phase_["container/app1/web"] = "blocked";
    phase_["container/app2/web"] = "blocked";
  }
  DesiredGraphPtr desired() const override {
    std::lock_guard lk(mu_);
    return graph_;
  }
  int64_t start(const RunRequest& req, std::function<void(const RunResult&)> onDone) override {
    // The controller does not wait for runs: run on a thread of our own.
    RunRecord rec;
    rec.startedUnixMs = nowMs();
    rec.result = "running";
    rec.trigger = req.trigger;
    rec.revision = "churn-r1";
    auto id = deps_.state->beginRun(rec);
    rec.id = id.ok() ? *id : 0;
    std::thread([this, rec, req, onDone]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(runMillis_));
      RunResult r;
      r.runId = rec.id;
      r.startedUnixMs = rec.startedUnixMs;
      r.finishedUnixMs = nowMs();
      r.result = "partial";
      r.failed = 1;
      r.blocked = 2;
      rec.finishedUnixMs = r.finishedUnixMs;
      rec.result = r.result;
      rec.summary = (req.resources.empty() ? std::string("all") : std::to_string(req.resources.size())) +
                    " resources reconciled, 1 failed, 2 blocked";
      deps_.state->finishRun(rec);
      EventRecord ev;
      ev.unixMs = r.finishedUnixMs;
      ev.level = "info";
      ev.reason = "RunFinished";
      ev.message = "run " + std::to_string(r.runId) + " " + r.result + " (" + rec.summary + ")";
      ev.runId = r.runId;
      deps_.state->appendEvent(ev);
      if (onDone) onDone(r);
    }).detach();
    return rec.id;
  }
  RunResult run(const RunRequest& req) override {
    std::mutex m;
    std::condition_variable cv;
    std::optional<RunResult> out;
    start(req, [&](const RunResult& r) {
      std::lock_guard lk(m);
      out = r;
      cv.notify_all();
    });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return out.has_value(); });
    return *out;
  }
  Result<std::vector<PlannedAction>> plan(const std::vector<std::string>& ids) override {
    std::lock_guard lk(mu_);
    std::vector<PlannedAction> out;
    for (const auto& r : graph_->resources) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), r.id) == ids.end()) continue;
      PlannedAction a;
      a.id = r.id;
      a.kind = r.kind;
      a.action = Action::Noop;
      a.reason = "up to date";
      a.diff = nlohmann::json::object();
      if (r.id == "container/app3/web") {
        a.action = Action::Replace;
        a.reason = "spec changed: image";
        a.diff = {{"image", {{"from", "local/busybox:1.35"}, {"to", "local/busybox:1.36"}}}};
      } else if (r.id == "container/app1/db") {
        a.action = Action::Create;
        a.reason = "absent";
      }
      out.push_back(std::move(a));
    }
    return out;
  }
  std::vector<ResourceStatus> status() const override {
    std::lock_guard lk(mu_);
    std::vector<ResourceStatus> out;
    if (!graph_) return out;
    out.reserve(graph_->resources.size());
    for (const auto& r : graph_->resources) {
      ResourceStatus s;
      s.id = r.id;
      s.kind = r.kind;
      s.phase = phase_.at(r.id);
      s.message = s.phase == "failed" ? "exited with code 3" : s.phase == "blocked" ? "waiting for a dependency" : s.phase == "progressing" ? "starting" : "";
      s.dependsOn = r.dependsOn;
      s.lastAppliedUnix = 1767225600;
      out.push_back(std::move(s));
    }
    return out;
  }
  void cancel() override {}

 private:
  // Flips ~40 resources between ready and progressing every 200 ms and records an event for
  // some of them: the UIs must keep up with this.
  void churn() {
    std::mt19937 rng(42);
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::vector<std::string> changed;
      {
        std::lock_guard lk(mu_);
        if (!graph_ || graph_->resources.size() < 40) continue;
        std::uniform_int_distribution<std::size_t> pick(20, graph_->resources.size() - 1);  // not the chain of apps 0-3
        for (int k = 0; k < 40; ++k) {
          const auto& id = graph_->resources[pick(rng)].id;
          auto& p = phase_[id];
          if (p == "ready") p = "progressing";
          else if (p == "progressing") p = "ready";
          else continue;
          if (k % 8 == 0) changed.push_back(id);
        }
      }
      for (const auto& id : changed) {
        EventRecord ev;
        ev.unixMs = nowMs();
        ev.level = "info";
        ev.resource = id;
        ev.reason = "Updated";
        ev.message = "churn: " + id + " restarted";
        deps_.state->appendEvent(ev);
      }
    }
  }

  EngineDeps deps_;
  int runMillis_;
  mutable std::mutex mu_;
  DesiredGraphPtr graph_;
  std::map<std::string, std::string> phase_;
  std::atomic<bool> stop_{false};
  std::thread churn_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: bench_ui_churn_server N WORKDIR PORTFILE [TOKENFILE]\n";
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const std::string work = argv[2];
  std::filesystem::create_directories(work + "/spec");
  test::writeFile(work + "/spec/spec.txt", "churn\n");
  log::configure(log::Level::Warn, log::Format::Text);

  daemon::DaemonOptions o;
  o.specDir = work + "/spec";
  o.statePath = work + "/state/tend.db";
  o.listen = "127.0.0.1:0";
  o.socketPath = work + "/tendd.sock";
  if (argc == 5) o.tokenFile = argv[4];
  o.interval = std::chrono::hours(1);
  daemon::DaemonHooks h;
  h.loader = [n](const std::string& dir, const LoadOptions&) {
    LoadResult lr;
    auto g = std::const_pointer_cast<DesiredGraph>(makeGraph(n));
    g->specDir = dir;
    lr.graph = g;
    return lr;
  };
  h.engineFactory = [](EngineDeps d, EngineOptions) -> std::unique_ptr<Engine> {
    return std::make_unique<ChurnEngine>(std::move(d), 300);
  };
  h.openState = [](const std::string&) -> Result<std::unique_ptr<StateStore>> {
    return std::unique_ptr<StateStore>(std::make_unique<test::MemoryStateStore>());
  };
  daemon::Daemon d(std::move(o), std::move(h));
  std::thread announce([&] {
    while (!d.listening()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::ofstream(argv[3]) << d.tcpPort() << "\n";
  });
  int rc = d.run();
  announce.join();
  return rc;
}
