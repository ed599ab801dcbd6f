#include "daemon/server/controller.h"


#include <chrono>
#include <condition_variable>
#include <map>
#include <set>

#include "core/hash.h"
#include "core/log.h"
#include "core/secrets.h"
#include "core/spec/explain.h"
#include "daemon/server/status_render.h"

namespace tend::daemon {
using json = nlohmann::json;

namespace {

int64_t unixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What makes two specs different for the engine. The revision alone is not enough: a dirty
// git work tree keeps "<commit>-dirty" across edits.
std::string fingerprintOf(const DesiredGraph& g) {
  std::string s = g.environment + '\n' + g.specDir + '\n' + g.secretsFile + '\n' +
                  std::to_string(g.prune) + std::to_string(g.intervalSeconds) + '\n';
  for (const auto& r : g.resources) {
    s += r.id + ' ' + r.hash + ' ';
    for (const auto& d : r.dependsOn) s += d + ',';
    s += '\n';
  }
  for (const auto& [k, v] : g.providerConfigs) s += k + '=' + v.dump() + '\n';
  for (const auto& [k, v] : g.parallelism) s += k + ':' + std::to_string(v) + '\n';
  auto md = sha256(s);
  return std::string(reinterpret_cast<const char*>(md.data()), md.size());
}

// A strong ETag: the first 128 bits of the body's SHA-256, quoted.
std::string etagOf(const std::string& text) {
  auto md = sha256(text);
  return "\"" + hexBytes(md.data(), 16) + "\"";
}

}  // namespace

Controller::Controller(ControllerDeps deps, ControllerOptions opts)
    : deps_(std::move(deps)),
      opts_(std::move(opts)),
      tap_(*deps_.state),
      providers_(*deps_.registry, opts_.stateDir, deps_.hostSessions),
      secrets_(deps_.secretsOpener, opts_.ageKeyFile),
      queue_([this](Job& j) { execute(j); }) {
  tap_.onRunBegun = [this](const RunRecord& r) {
    std::lock_guard lk(mu_);
    lastRun_ = r;
    if (currentWaiters_) {
      for (auto& w : *currentWaiters_)
        if (w.started) w.started(r.id);
      currentWaiters_ = nullptr;  // told once
    }
    localGen_++;
  };
  tap_.onRunFinished = [this](const RunRecord& r) {
    std::lock_guard lk(mu_);
    lastRun_ = r;
    localGen_++;
  };
  if (auto lr = tap_.lastRun(); lr.ok() && *lr) lastRun_ = **lr;
  if (auto rs = tap_.loadResources(); rs.ok()) recorded_ = std::move(rs).value();
  if (auto m = tap_.getMeta("last_good_revision"); m.ok() && *m) lastGoodRevision_ = **m;
}

Controller::~Controller() {
  queue_.close();
  queue_.join(std::chrono::milliseconds(opts_.engine.cancelGrace) + std::chrono::seconds(5));
}

void Controller::start() { queue_.start(); }

void Controller::submit(Job job) {
  queue_.submit(std::move(job));
}

void Controller::stopIntake() { queue_.close(); }

void Controller::cancelInFlight() {
  if (auto* e = enginePtr_.load()) e->cancel();
}

bool Controller::join(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  if (!queue_.join(timeout)) return false;
  // The runner ends at once (it never waits for a run); provider calls still in flight were
  // cancelled: wait for them to return, within what is left of the grace period.
  auto* e = enginePtr_.load();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  return !e || e->drain(std::max(left, std::chrono::milliseconds(0)));
}

bool Controller::followsGit() const { return deps_.source->isGit(); }

int Controller::intervalSeconds() const {
  std::lock_guard lk(mu_);
  return graph_ ? graph_->intervalSeconds : 300;
}

std::string Controller::specError() const {
  std::lock_guard lk(mu_);
  return specErrors_.empty() ? "" : specErrors_.front();
}

bool Controller::hasValidSpec() const {
  std::lock_guard lk(mu_);
  return graph_ != nullptr;
}

void Controller::event(const std::string& level, const std::string& reason, const std::string& message) {
  EventRecord ev;
  ev.unixMs = unixMsNow();
  ev.level = level;
  ev.reason = reason;
  ev.message = Redactor::instance().redact(message);
  auto r = tap_.appendEvent(ev);
  if (!r.ok()) log::warn("cannot record event", {{"reason", reason}, {"error", r.error().message}});
}

void Controller::recordSpecError(const std::vector<std::string>& lines) {
  bool fresh;
  {
    std::lock_guard lk(mu_);
    fresh = lines != specErrors_;
    specErrors_ = lines;
    localGen_++;
  }
  // The same broken spec seen again (interval reload, git poll) is one error, not many.
  if (!fresh) return;
  if (deps_.metrics) deps_.metrics->specLoadError();
  std::string joined;
  for (const auto& l : lines) {
    log::error("spec invalid: " + l);
    joined += (joined.empty() ? "" : "\n") + l;
  }
  log::warn("keeping the last good spec", {{"revision", lastGoodRevision_.empty() ? "none" : lastGoodRevision_}});
  event("error", "SpecInvalid", joined);
}

bool Controller::reloadSpec(bool fetch, const std::string& trigger) {
  auto cand = deps_.source->prepare(fetch);
  if (!cand.ok()) {
    recordSpecError({deps_.source->describe() + ": " + cand.error().message});
    return false;
  }
  LoadOptions lo;
  lo.revision = cand->revision;
  lo.providers = deps_.registry;
  LoadResult lr = deps_.loader(cand->dir, lo);
  capDiagnostics(lr.diagnostics, cand->dir);  // status, events and log lines stay small, whatever the loader
  if (!lr.ok()) {
    std::vector<std::string> lines;
    for (const auto& d : lr.diagnostics)
      if (d.severity == Severity::Error) lines.push_back(d.str());
    if (lines.empty()) lines.push_back(cand->dir + ": spec invalid");
    recordSpecError(lines);
    deps_.source->rejected(*cand);
    return false;
  }
  for (const auto& d : lr.diagnostics)
    if (d.severity == Severity::Warning) log::warn("spec: " + d.str());
  const std::string fp = fingerprintOf(*lr.graph);
  bool clearedError = false;
  bool same;
  {
    std::lock_guard lk(mu_);
    clearedError = !specErrors_.empty();
    specErrors_.clear();
    same = graph_ && fp == fingerprint_ && graph_->revision == lr.graph->revision;
    explainSpec_ = lr.spec;
    explainGraph_ = lr.graph;
    localGen_++;
  }
  if (clearedError) {
    log::info("spec valid again", {{"revision", lr.graph->revision}});
    event("info", "SpecValid", "spec valid again at revision " + lr.graph->revision);
  }
  deps_.source->accepted(*cand);
  if (same) return false;
  applyGraph(lr.graph);
  log::info("spec applied", {{"revision", lr.graph->revision},
                             {"resources", std::to_string(lr.graph->resources.size())},
                             {"trigger", trigger}});
  return true;
}

void Controller::applyGraph(const DesiredGraphPtr& g) {
  {
    std::unique_lock lk(engineMu_);
    providers_.update(*g);
    // The first observe's reads (Docker's lists) start now and run while the engine is set
    // up and the run recorded.
    providers_.prefetch(*g);
    secrets_.use(g->secretsFile);
    if (!engine_) {
      EngineDeps d;
      d.state = &tap_;
      d.metrics = deps_.metrics;
      d.secrets = &secrets_;
      d.providerFor = [this](const std::string& name) { return providers_.get(name); };
      if (const ProviderRegistry* reg = deps_.registry)
        d.pruneRank = [reg](const std::string& kind) { return reg->pruneRank(kind); };
      d.providerRef = [this](const std::string& name) { return providers_.getShared(name); };
      EngineOptions eo = opts_.engine;
      eo.dryRun = opts_.dryRun;
      eo.environment = g->environment;
      engine_ = deps_.engineFactory(std::move(d), eo);
      enginePtr_ = engine_.get();
    }
    engine_->setDesired(g);
  }
  {
    std::lock_guard lk(mu_);
    graph_ = g;
    fingerprint_ = fingerprintOf(*g);
    lastGoodRevision_ = g->revision;
    localGen_++;
  }
  if (deps_.metrics) deps_.metrics->specRevision(g->revision);
  if (auto r = tap_.setMeta("last_good_revision", g->revision); !r.ok())
    log::warn("cannot record last_good_revision", {{"error", r.error().message}});
  event("info", "SpecApplied", "applied spec revision " + g->revision + " (" +
                                   std::to_string(g->resources.size()) + " resources)");
  refreshResourceMetrics();
  if (onApplied) onApplied(*g);
}

void Controller::refreshResourceMetrics() {
  auto* e = enginePtr_.load();
  if (!e || !deps_.metrics) return;
  std::map<std::pair<std::string, std::string>, int> counts;
  for (const auto& s : e->status()) counts[{s.kind, s.phase}]++;
  deps_.metrics->resourceCounts(counts);
}

void Controller::execute(Job& job) {
  bool changed = false;
  bool first;
  {
    std::lock_guard lk(mu_);
    first = !loadedOnce_;
  }
  if (job.reload || first || !hasValidSpec()) {
    changed = reloadSpec(job.fetch, job.trigger);
    {
      std::lock_guard lk(mu_);
      loadedOnce_ = true;
    }
    if (onLoadAttempt) onLoadAttempt(first);
    for (auto& w : job.waiters)
      if (w.loaded) w.loaded();
  }
  JobOutcome out;
  if (!job.run || (job.onlyIfChanged && !changed)) {
    out.error = "spec unchanged";
    for (auto& w : job.waiters)
      if (w.finished) w.finished(out);
    return;
  }
  if (!hasValidSpec()) {
    std::string why;
    {
      std::lock_guard lk(mu_);
      why = specErrors_.empty() ? "" : specErrors_.front();
    }
    out.error = "no valid spec loaded" + (why.empty() ? "" : ": " + why);
    for (auto& w : job.waiters)
      if (w.finished) w.finished(out);
    return;
  }
  if (auto v = tap_.verified(); !v) {
    // A store that failed its start-up check is not written to: no pass runs on it.
    log::error("no pass: the state database cannot be used", {{"error", v.error().message}});
    out.error = v.error().message;
    for (auto& w : job.waiters)
      if (w.finished) w.finished(out);
    return;
  }
  RunRequest rr;
  if (job.resources) rr.resources.assign(job.resources->begin(), job.resources->end());
  rr.trigger = job.trigger.empty() ? "api" : job.trigger;
  rr.dryRun = opts_.dryRun;
  rr.untilSettled = true;
  log::info("reconcile run starting",
            {{"trigger", rr.trigger},
             {"resources", rr.resources.empty() ? "all" : std::to_string(rr.resources.size())}});
  // The run is started, not waited for: the runner goes on with the next job (a spec reload
  // never waits behind a resource that is progressing); its waiters hear from the engine.
  auto waiters = std::make_shared<std::vector<Waiter>>(std::move(job.waiters));
  {
    // The run's id reaches the waiters as soon as the store has it (an engine that blocks in
    // start() still answers 202 at once).
    std::lock_guard lk(mu_);
    currentWaiters_ = waiters.get();
  }
  int64_t id = enginePtr_.load()->start(rr, [this, waiters](const RunResult& res) {
    {
      std::lock_guard lk(mu_);
      firstPassDone_ = true;
      localGen_++;
    }
    refreshResourceMetrics();
    JobOutcome o;
    o.ran = true;
    o.result = res;
    for (auto& w : *waiters)
      if (w.finished) w.finished(o);
  });
  bool told;
  {
    std::lock_guard lk(mu_);
    told = currentWaiters_ == nullptr;
    currentWaiters_ = nullptr;
  }
  if (!told && id)  // joined a run that had begun: no new record
    for (auto& w : *waiters)
      if (w.started) w.started(id);
}

JobOutcome Controller::runOnce() {
  struct Done {
    std::mutex m;
    std::condition_variable cv;
    std::optional<JobOutcome> out;
  };
  auto done = std::make_shared<Done>();
  Job job;
  job.reload = true;
  job.trigger = "startup";
  job.waiters.push_back(Waiter{nullptr,
                               [done](const JobOutcome& o) {
                                 std::lock_guard lk(done->m);
                                 done->out = o;
                                 done->cv.notify_all();
                               },
                               nullptr});
  execute(job);
  std::unique_lock lk(done->m);
  done->cv.wait(lk, [&] { return done->out.has_value(); });
  return *done->out;
}

bool Controller::ready(std::string& why) const {
  std::lock_guard lk(mu_);
  if (!graph_) {
    why = specErrors_.empty() ? "no spec loaded yet" : "spec invalid: " + specErrors_.front();
    return false;
  }
  if (!firstPassDone_) {
    why = "first reconcile pass still running";
    return false;
  }
  return true;
}

std::string Controller::metricsText() { return deps_.metrics ? deps_.metrics->render() : ""; }

std::string Controller::renderStatus() { return renderStatusJson(statusView()); }

StatusView Controller::statusView() {
  StatusView v;
  {
    std::lock_guard lk(mu_);
    const auto& g = graph_;
    if (g) v.revision = g->revision;
    else if (!lastGoodRevision_.empty()) v.revision = lastGoodRevision_;
    if (g) v.environment = g->environment;
    v.specSource = deps_.source->describe();
    v.specErrors = specErrors_;
    v.ready = g && firstPassDone_;
    v.dryRun = opts_.dryRun;
    v.lastRun = lastRun_;
    v.graph = g;
  }
  if (auto* e = enginePtr_.load()) {
    v.resources = e->status();
  } else {
    std::lock_guard lk(mu_);
    for (const auto& r : recorded_) v.resources.push_back(statusOfRecord(r));
  }
  return v;
}

Result<json> Controller::explainJson(const std::string& what) {
  std::shared_ptr<const Spec> sp;
  DesiredGraphPtr g;
  {
    std::lock_guard lk(mu_);
    sp = explainSpec_;
    g = explainGraph_;
  }
  if (!sp || !g) return makeError("no spec: tendd has not loaded a valid spec yet");
  auto items = spec::explain(*sp, *g, what);
  if (items.empty()) return makeError("no app or resource '" + what + "' in the applied spec (revision " + g->revision + ")");
  json j = spec::explainJson(items);
  std::string text = Redactor::instance().redact(j.dump());
  return json::parse(text, nullptr, false);
}

Result<json> Controller::resourceDetail(const std::string& id, bool withPlan) {
  StatusView v = statusView();
  std::map<std::string, const ResourceStatus*> byId;
  for (const auto& s : v.resources) byId[s.id] = &s;
  auto it = byId.find(id);
  if (it == byId.end()) return makeError("unknown resource " + id);
  const DesiredGraph* g = v.graph.get();
  auto brief = [&](const std::string& other) {
    auto o = byId.find(other);
    if (o == byId.end()) return json{{"id", other}, {"phase", nullptr}, {"message", "not in the status"}};
    return json{{"id", other}, {"phase", o->second->phase}, {"message", o->second->message}};
  };
  json j;
  j["resource"] = renderResourceJson(*it->second, g);
  if (const DesiredResource* d = g ? g->find(id) : nullptr) {
    j["declared_at"] = d->loc.str();
    j["provider"] = d->provider;
    j["host"] = d->host;
  }
  json up = json::array(), down = json::array();
  for (const auto& dep : it->second->dependsOn) up.push_back(brief(dep));
  for (const auto& s : v.resources)
    for (const auto& dep : s.dependsOn)
      if (dep == id) down.push_back(brief(s.id));
  j["dependencies"] = std::move(up);
  j["dependents"] = std::move(down);
  // The chain that blocks it: follow the first dependency that is not ready down to one whose
  // own dependencies are all ready (the root cause).
  json chain = json::array();
  std::set<std::string> seen{id};
  for (const ResourceStatus* cur = it->second; cur && cur->phase != "ready";) {
    const ResourceStatus* next = nullptr;
    for (const auto& dep : cur->dependsOn) {
      auto o = byId.find(dep);
      if (o != byId.end() && o->second->phase != "ready" && !seen.count(dep)) {
        next = o->second;
        break;
      }
    }
    if (!next) break;
    seen.insert(next->id);
    chain.push_back(brief(next->id));
    cur = next;
  }
  j["blocked_by"] = std::move(chain);
  auto evs = tap_.recentEvents(id, 50);
  j["events"] = evs.ok() ? renderEventsJson(*evs) : json::array();
  // Where each of its values came from (tendctl explain ID): empty for a resource the applied
  // spec does not name (recorded state only).
  auto ex = explainJson(id);
  j["explain"] = ex.ok() ? *ex : json::array();
  if (withPlan) {
    auto* e = enginePtr_.load();
    if (!e) {
      j["plan"] = nullptr;
    } else {
      auto plan = e->plan({id});
      if (!plan.ok()) {
        j["plan"] = json{{"error", plan.error().message}};
      } else {
        json p = renderPlanJson(*plan);
        j["plan"] = nullptr;
        for (const auto& a : p)
          if (a.value("id", "") == id) j["plan"] = a;
      }
    }
  }
  return json::parse(Redactor::instance().redact(j.dump(-1, ' ', false, json::error_handler_t::replace)));
}

Result<json> Controller::runsJson(int limit) {
  auto runs = tap_.recentRuns(limit);
  if (!runs.ok()) return runs.error();
  json out = json::array();
  for (const auto& r : *runs) out.push_back(renderRunJson(r));
  return json::parse(Redactor::instance().redact(out.dump(-1, ' ', false, json::error_handler_t::replace)));
}

Result<json> Controller::recentEventsJson(const std::string& resource, int limit) {
  auto evs = tap_.recentEvents(resource, limit);
  if (!evs.ok()) return evs.error();
  return renderEventsJson(*evs);
}

std::shared_ptr<const StatusBody> Controller::currentStatusBody() {
  const uint64_t key = tap_.generation() * 1000003u + localGen_.load();
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lk(cacheMu_);
  // The engine's phases move during a pass without a state write: bound staleness too.
  if (statusCache_ && key == statusCacheKey_ && now - statusCachedAt_ < std::chrono::milliseconds(500))
    return statusCache_;
  return nullptr;
}

std::shared_ptr<const StatusBody> Controller::statusBody() {
  if (auto current = currentStatusBody()) return current;
  // One render at a time: requests arriving while it runs take its result.
  std::lock_guard render(renderMu_);
  if (auto current = currentStatusBody()) return current;
  const uint64_t key = tap_.generation() * 1000003u + localGen_.load();
  std::string text = renderStatus();
  std::lock_guard lk(cacheMu_);
  statusCacheKey_ = key;
  // From the end of the render: a status that takes longer than the bound to render (tens of
  // thousands of resources) must not be rendered again for every request.
  statusCachedAt_ = std::chrono::steady_clock::now();
  // Unchanged text keeps its buffer and ETag, so conditional requests keep getting 304.
  if (statusCache_ && statusCache_->json == text) return statusCache_;
  auto b = std::make_shared<StatusBody>();
  b->json = std::move(text);
  b->etag = etagOf(b->json);
  b->fd = sealedMemfd(b->json);
  statusCache_ = std::move(b);
  return statusCache_;
}

Result<json> Controller::planJson() {
  // The engine outlives every request; its plan holds the providers it calls.
  auto* e = enginePtr_.load();
  if (!e) return makeError("no valid spec loaded yet");
  auto plan = e->plan();
  if (!plan.ok()) return plan.error();
  return renderPlanJson(*plan);
}

Result<json> Controller::eventsJson(int64_t since, int limit) {
  auto evs = tap_.eventsSince(since, limit);
  if (!evs.ok()) return evs.error();
  return renderEventsJson(*evs);
}

std::vector<std::string> Controller::unknownResources(const std::vector<std::string>& ids) const {
  std::set<std::string> known;
  {
    std::lock_guard lk(mu_);
    if (graph_)
      for (const auto& r : graph_->resources) known.insert(r.id);
    for (const auto& r : recorded_) known.insert(r.id);
  }
  if (auto* e = enginePtr_.load())
    for (const auto& s : e->status()) known.insert(s.id);
  std::vector<std::string> unknown;
  for (const auto& id : ids)
    if (!known.count(id)) unknown.push_back(id);
  return unknown;
}

}  // namespace tend::daemon
