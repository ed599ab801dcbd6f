#include "core/engine/apply_stage.h"

#include <chrono>
#include <exception>

#include "core/log.h"
#include "core/secrets.h"

namespace tend::engine {

std::string redact(std::string s) { return Redactor::instance().redact(std::move(s)); }

int64_t unixMs(const Clock& c) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(c.wallNow().time_since_epoch()).count();
}

Result<PlannedAction> safePlan(const Provider& p, const DesiredResource* desired,
                               const ObservedResource* observed, const nlohmann::json* privateData) {
  try {
    PlanRequest req{desired, observed};
    if (privateData && !privateData->is_null()) req.privateData = privateData;
    PlannedAction a = p.plan(req);
    if (desired) {
      a.id = desired->id;
      if (a.kind.empty()) a.kind = desired->kind;
    } else if (observed) {
      a.id = observed->id;
      if (a.kind.empty()) a.kind = kindOfId(observed->id);
    }
    return a;
  } catch (const std::exception& e) {
    return makeError(std::string("plan failed: ") + e.what());
  }
}

ApplyResponse safeApply(Provider& p, const std::string& providerName, const ApplyRequest& req,
                        MetricsSink* metrics) {
  auto t0 = std::chrono::steady_clock::now();
  ApplyResponse resp;
  try {
    resp = p.apply(req);
  } catch (const std::exception& e) {
    resp = ApplyResponse{};
    resp.outcome = Outcome::Failed;
    resp.message = std::string("apply threw: ") + e.what();
  }
  if (resp.outcome != Outcome::Ok && resp.outcome != Outcome::Progressing &&
      resp.outcome != Outcome::Failed && resp.outcome != Outcome::Busy) {
    resp.outcome = Outcome::Failed;
    resp.message = "provider returned an invalid outcome";
  }
  if (metrics)
    metrics->providerRequest(
        providerName,
        resp.outcome == Outcome::Failed ? "error" : resp.outcome == Outcome::Busy ? "busy" : "ok",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return resp;
}

const char* eventReason(Action a, bool drift) {
  if (drift) return "DriftCorrected";
  switch (a) {
    case Action::Create: return "Created";
    case Action::Update: return "Updated";
    case Action::Replace: return "Replaced";
    case Action::Delete: return "Deleted";
    case Action::Noop: return "Noop";
  }
  return "Applied";
}

std::string describe(const PlannedAction& a) {
  std::string s = actionName(a.action);
  if (!a.reason.empty()) s += " (" + a.reason + ")";
  return s;
}

ApplyOutput applyAndRecord(ApplyInput in) {
  ApplyOutput out;
  ApplyRequest areq;
  areq.action = in.plan;
  areq.desired = in.desired;
  areq.observed = in.observed ? &*in.observed : nullptr;
  areq.ctx = in.ctx;
  if (in.prev) areq.privateData = in.prev->ownerData;
  out.resp = safeApply(*in.provider, in.providerName, areq, in.metrics);
  const auto& resp = out.resp;
  auto nowMs = unixMs(*in.clock);
  std::string detail = resp.message.empty() ? "" : ": " + resp.message;

  if (resp.outcome == Outcome::Busy) {
    // Nothing changed; only the private data (if the provider gave some) is kept.
    if (!in.prune && !resp.privateData.is_null() && in.prev) {
      ResourceRecord rec = *in.prev;
      rec.ownerData = resp.privateData;
      if (auto r = in.store->putResource(rec); !r)
        log::error("state: recording private data failed: " + r.error().message, {{"resource", in.id}});
      else out.recorded = rec;
    }
    return out;
  }

  EventRecord ev;
  ev.unixMs = nowMs;
  ev.resource = in.id;
  ev.runId = in.runId;
  if (resp.outcome == Outcome::Failed) {
    ev.level = "error";
    ev.reason = "Failed";
    ev.message = redact(describe(in.plan) + " failed" + detail);
  } else if (resp.outcome == Outcome::Progressing && in.prev && in.prev->phase == Phase::Progressing &&
             in.prev->desiredHash == (in.desired ? in.desired->hash : "")) {
    // Following a task already under way: one event when it started is enough.
    ev.reason.clear();
  } else {
    ev.level = "info";
    ev.reason = eventReason(in.plan.action, in.plan.drift);
    ev.message = redact(describe(in.plan) + detail);
  }

  if (in.prune) {
    Result<void> r;
    if (resp.outcome == Outcome::Ok) {
      r = in.store->recordDelete(in.id, ev);
    } else if (!ev.reason.empty()) {
      auto a = in.store->appendEvent(ev);
      if (!a) r = a.error();
    }
    if (!r) log::error("state: recording a prune failed: " + r.error().message, {{"resource", in.id}});
    return out;
  }

  ResourceRecord rec = in.prev ? *in.prev : ResourceRecord{};
  rec.id = in.id;
  rec.kind = in.kind;
  rec.desiredHash = in.desired->hash;
  rec.dependsOn = in.desired->dependsOn;
  rec.updatedUnix = nowMs / 1000;
  if (!resp.privateData.is_null()) rec.ownerData = resp.privateData;
  if (resp.outcome == Outcome::Failed) {
    rec.phase = Phase::Failed;
    rec.message = redact(resp.message.empty() ? describe(in.plan) + " failed" : resp.message);
  } else {
    rec.lastAppliedHash = in.desired->hash;
    rec.lastAppliedUnix = nowMs / 1000;
    rec.phase = resp.outcome == Outcome::Ok ? Phase::Ready : Phase::Progressing;
    rec.message = redact(resp.message.empty() ? describe(in.plan) : resp.message);
    rec.drifted = in.plan.drift;
  }
  Result<void> r;
  if (ev.reason.empty()) r = in.store->putResource(rec);
  else r = in.store->recordApply(rec, ev);
  if (!r) log::error("state: recording an apply failed: " + r.error().message, {{"resource", in.id}});
  else out.recorded = rec;
  return out;
}

}  // namespace tend::engine
