#include "tests/support/memory_provider.h"

#include <condition_variable>
#include <stdexcept>
#include <thread>

#include "core/provider_plan.h"

namespace tend::testing {

void waitUntilCancelled(const CallContext& ctx) {
  while (!ctx.isCancelled() && std::chrono::steady_clock::now() < ctx.deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MemoryProvider::MemoryProvider(std::string name, std::vector<std::string> kinds)
    : name_(std::move(name)), kinds_(std::move(kinds)) {}

void MemoryProvider::setFaults(Faults f) {
  std::lock_guard lk(mu_);
  faults_ = std::move(f);
}
MemoryProvider::Faults MemoryProvider::faults() const {
  std::lock_guard lk(mu_);
  return faults_;
}
void MemoryProvider::put(Object o) {
  std::lock_guard lk(mu_);
  objects_[o.id] = std::move(o);
}
void MemoryProvider::putUnowned(const std::string& id) {
  Object o;
  o.id = id;
  o.owned = false;
  put(std::move(o));
}
void MemoryProvider::erase(const std::string& id) {
  std::lock_guard lk(mu_);
  objects_.erase(id);
}
void MemoryProvider::setDrift(const std::string& id, bool drift) {
  std::lock_guard lk(mu_);
  if (auto it = objects_.find(id); it != objects_.end()) it->second.state["drift"] = drift;
}
std::optional<MemoryProvider::Object> MemoryProvider::get(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = objects_.find(id);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}
std::map<std::string, MemoryProvider::Object> MemoryProvider::objects() const {
  std::lock_guard lk(mu_);
  return objects_;
}
int MemoryProvider::applyCount(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = applyCounts_.find(id);
  return it == applyCounts_.end() ? 0 : it->second;
}
std::vector<std::pair<std::string, Action>> MemoryProvider::applyLog() const {
  std::lock_guard lk(mu_);
  return log_;
}
void MemoryProvider::onApply(std::function<void(const ApplyRequest&)> f) {
  std::lock_guard lk(mu_);
  onApply_ = std::move(f);
}
void MemoryProvider::onObserve(std::function<void(const ObserveRequest&)> f) {
  std::lock_guard lk(mu_);
  onObserve_ = std::move(f);
}

namespace {
std::string hostOf(const DesiredResource& r) {
  if (r.spec.is_object())
    if (auto h = r.spec.find("host"); h != r.spec.end() && h->is_string()) return h->get<std::string>();
  return "";
}
}  // namespace

std::string MemoryProvider::observeScope(const DesiredResource& r) const { return hostOf(r); }

std::vector<ConcurrencyKey> MemoryProvider::concurrencyKeys(const DesiredResource* desired,
                                                            const PlannedAction&) const {
  if (!desired || hostOf(*desired).empty() || hostLimit_.load() <= 0) return {};
  return {ConcurrencyKey{"host/" + hostOf(*desired), hostLimit_.load()}};
}

std::vector<std::vector<std::string>> MemoryProvider::observeLog() const {
  std::lock_guard lk(mu_);
  return observeLog_;
}

ObserveResponse MemoryProvider::observe(const ObserveRequest& req) {
  int n = ++observeCalls_;
  {
    std::vector<std::string> ids;
    for (const auto* d : req.desired) ids.push_back(d->id);
    std::lock_guard lk(mu_);
    observeLog_.push_back(std::move(ids));
  }
  Faults f;
  std::function<void(const ObserveRequest&)> hook;
  {
    std::lock_guard lk(mu_);
    f = faults_;
    hook = onObserve_;
  }
  if (hook) hook(req);
  if (f.observeDelay.count()) std::this_thread::sleep_for(f.observeDelay);
  if (f.hangObserve) waitUntilCancelled(req.ctx);
  ObserveResponse resp;
  if (f.failNthObserve == n) {
    resp.diagnostics.push_back(Diagnostic{Severity::Error, {}, "injected observe failure"});
    return resp;
  }
  if (!req.desired.empty() && f.downScopes.count(hostOf(*req.desired.front()))) {
    resp.scopeError = makeError("host " + hostOf(*req.desired.front()) + " unreachable");
    return resp;
  }
  std::lock_guard lk(mu_);
  std::set<std::string> wanted;
  for (const auto* d : req.desired) {
    wanted.insert(d->id);
    if (f.observeErrorIds.count(d->id)) {
      resp.errors[d->id] = makeError("injected observe error for " + d->id);
      continue;
    }
    auto it = objects_.find(d->id);
    if (it == objects_.end()) continue;
    auto& o = it->second;
    if (auto p = faults_.progressingObserves.find(d->id); p != faults_.progressingObserves.end()) {
      if (--p->second <= 0) {
        o.ready = true;
        faults_.progressingObserves.erase(p);
      }
    }
    ObservedResource r;
    r.id = o.id;
    r.exists = true;
    r.owned = o.owned;
    r.appliedHash = o.owned ? o.appliedHash : "";
    r.ready = o.ready;
    r.message = o.ready ? "running" : "starting";
    r.state = o.state;
    if (f.garbage) r.state = "<<malformed>>";
    resp.observed[d->id] = std::move(r);
  }
  if (req.includeOwned) {
    for (auto& [id, o] : objects_) {
      if (wanted.count(id) || !o.owned) continue;
      ObservedResource r;
      r.id = id;
      r.exists = true;
      r.owned = true;
      r.appliedHash = o.appliedHash;
      r.ready = o.ready;
      r.state = o.state;
      resp.observed[id] = std::move(r);
    }
  }
  if (f.garbage) {
    ObservedResource a;
    a.id = "container/other/thing";
    a.exists = a.owned = true;
    resp.observed["mismatched-key"] = a;  // key and id disagree
    ObservedResource b;
    b.exists = b.owned = true;
    resp.observed[""] = b;  // empty id
    ObservedResource c;
    c.id = "nokind";
    c.exists = c.owned = true;
    c.state = nlohmann::json::array({1, 2, 3});
    resp.observed["nokind"] = c;
    ObservedResource d;
    d.id = "weird/kind/x";
    d.exists = d.owned = true;
    resp.observed["weird/kind/x"] = d;  // a kind this provider does not have
  }
  return resp;
}

PlannedAction MemoryProvider::plan(const PlanRequest& req) const {
  PlanWords words;
  words.leftSpec = "not in the spec";
  PlanStart start = startPlan(req, words);
  PlannedAction& a = start.action;
  if (start.decided()) return a;
  const auto* o = req.observed;
  // Malformed state (garbage) is tolerated: it only matters when it is an object.
  if (o->state.is_object() && o->state.value("drift", false)) {
    a.action = Action::Update;
    a.drift = true;
    a.reason = "drift: modified outside tend";
  }
  return a;
}

ApplyResponse MemoryProvider::apply(const ApplyRequest& req) {
  int n = ++applyCalls_;
  const std::string& id = req.action.id;
  Faults f;
  std::function<void(const ApplyRequest&)> hook;
  {
    std::lock_guard lk(mu_);
    f = faults_;
    hook = onApply_;
    applyCounts_[id]++;
    log_.emplace_back(id, req.action.action);
    if (!applying_.insert(id).second) sameKeyOverlap_ = true;
  }
  int c = ++concurrent_;
  for (int m = maxConcurrent_.load(); c > m && !maxConcurrent_.compare_exchange_weak(m, c);) {
  }
  std::string host = req.desired ? hostOf(*req.desired) : "";
  if (!host.empty()) {
    std::lock_guard lk(mu_);
    int hc = ++hostConcurrent_[host];
    if (hc > maxHostConcurrent_) maxHostConcurrent_ = hc;
  }
  struct Leave {
    MemoryProvider* p;
    std::string id;
    std::string host;
    ~Leave() {
      --p->concurrent_;
      std::lock_guard lk(p->mu_);
      p->applying_.erase(id);
      if (!host.empty()) p->hostConcurrent_[host]--;
    }
  } leave{this, id, host};

  if (hook) hook(req);
  if (f.applyDelay.count()) std::this_thread::sleep_for(f.applyDelay);
  ApplyResponse resp;
  if (f.blockApplyIds.count(id)) {
    // Blocked "in I/O": only the cancellation callback wakes it.
    auto st = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
    auto woke = std::make_shared<bool>(false);
    auto reg = req.ctx.onCancel([st, woke] {
      std::lock_guard lk(st->first);
      *woke = true;
      st->second.notify_all();
    });
    std::unique_lock lk(st->first);
    st->second.wait_until(lk, req.ctx.deadline, [&] { return *woke; });
    resp.outcome = Outcome::Failed;
    resp.message = *woke ? "cancelled" : "deadline passed";
    return resp;
  }
  {
    std::lock_guard lk(mu_);
    if (auto b = faults_.busyApplies.find(id); b != faults_.busyApplies.end() && b->second > 0) {
      b->second--;
      resp.outcome = Outcome::Busy;
      resp.message = "locked by another operation";
      resp.requeueAfter = f.busyAfter;
      return resp;
    }
  }
  if (auto t = f.taskIds.find(id);
      t != f.taskIds.end() && req.desired &&
      (req.action.action == Action::Create || req.action.action == Action::Update ||
       req.action.action == Action::Replace)) {
    auto now = clock_ ? clock_->now() : std::chrono::steady_clock::now();
    std::lock_guard lk(mu_);
    std::string task;
    if (req.privateData.is_object() && req.privateData.contains("task"))
      task = req.privateData["task"].get<std::string>();
    if (task.empty() || !tasks_.count(task)) {
      task = "task-" + std::to_string(++tasksStarted_) + "-" + id;
      tasks_[task] = now + t->second;
    }
    if (now < tasks_[task]) {
      resp.outcome = Outcome::Progressing;
      resp.message = "task " + task + " running";
      resp.privateData = {{"task", task}};
      resp.requeueAfter = f.taskPoll;
      return resp;
    }
    tasks_.erase(task);
    Object o;
    o.id = id;
    o.appliedHash = req.desired->hash;
    o.state = req.desired->spec.is_object() ? req.desired->spec : nlohmann::json::object();
    o.state["drift"] = false;
    objects_[id] = std::move(o);
    resp.message = "task " + task + " finished";
    resp.privateData = {{"object", id}};
    return resp;
  }
  if (f.hangApplyIds.count(id)) {
    waitUntilCancelled(req.ctx);
    resp.outcome = Outcome::Failed;
    resp.message = "cancelled";
    return resp;
  }
  if (f.throwOnApply) throw std::runtime_error("provider bug: threw from apply");
  if (f.failNthApply == n || f.failApplyIds.count(id))
    return applyFailed(f.failMessage.empty() ? "injected apply failure for " + id : f.failMessage,
                       f.failTerminal);
  std::lock_guard lk(mu_);
  auto it = objects_.find(id);
  if (it != objects_.end() && !it->second.owned)
    return applyFailed("refusing to touch " + id + ": not managed by tend", true);
  switch (req.action.action) {
    case Action::Noop:
      break;
    case Action::Delete:
      objects_.erase(id);
      resp.message = "deleted";
      break;
    case Action::Create:
    case Action::Update:
    case Action::Replace: {
      if (!req.desired) return applyFailed("no desired resource");
      Object o;
      o.id = id;
      o.owned = true;
      o.appliedHash = req.desired->hash;
      o.state = req.desired->spec.is_object() ? req.desired->spec : nlohmann::json::object();
      o.state["drift"] = false;
      bool progressing = faults_.progressingObserves.count(id) > 0;
      o.ready = !progressing;
      objects_[id] = std::move(o);
      resp.privateData = {{"object", id}};
      if (progressing) {
        resp.outcome = Outcome::Progressing;
        resp.message = "waiting for health";
        resp.requeueAfter = f.progressingRequeue;
      } else {
        resp.message = req.action.action == Action::Create ? "created" : "updated";
      }
      break;
    }
  }
  return resp;
}

}  // namespace tend::testing

void tend::testing::MemoryProvider::clearLogs() {
  std::lock_guard lk(mu_);
  log_.clear();
  log_.shrink_to_fit();
  observeLog_.clear();
  observeLog_.shrink_to_fit();
}
