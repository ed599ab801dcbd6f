#include "daemon/server/status_render.h"

#include "core/secrets.h"
#include "daemon/server/api.h"

namespace tend::daemon {
using json = nlohmann::json;

std::string renderStatusJson(const StatusView& v) {
  json j;
  j["revision"] = v.revision ? json(*v.revision) : json(nullptr);
  j["environment"] = v.environment ? json(*v.environment) : json(nullptr);
  j["spec_source"] = v.specSource;
  if (v.specErrors.empty()) {
    j["spec_error"] = nullptr;
  } else {
    std::string joined;
    for (const auto& l : v.specErrors) joined += (joined.empty() ? "" : "\n") + l;
    j["spec_error"] = joined;
  }
  j["spec_errors"] = v.specErrors;
  j["ready"] = v.ready;
  j["dry_run"] = v.dryRun;
  if (v.lastRun) {
    const auto& r = *v.lastRun;
    j["last_run"] = json{{"id", r.id},
                         {"started", isoTimeMs(r.startedUnixMs)},
                         {"finished", r.finishedUnixMs ? json(isoTimeMs(r.finishedUnixMs)) : json(nullptr)},
                         {"result", r.result},
                         {"trigger", r.trigger},
                         {"revision", r.revision},
                         {"summary", r.summary}};
  } else {
    j["last_run"] = nullptr;
  }
  json resources = json::array();
  for (const auto& s : v.resources)
    resources.push_back(json{{"id", s.id},
                             {"kind", s.kind},
                             {"phase", s.phase},
                             {"message", s.message},
                             {"drifted", s.drifted},
                             {"last_applied", s.lastAppliedUnix > 0 ? json(isoTimeMs(s.lastAppliedUnix * 1000)) : json(nullptr)},
                             {"depends_on", s.dependsOn}});
  j["resources"] = std::move(resources);
  return Redactor::instance().redact(j.dump(-1, ' ', false, json::error_handler_t::replace)) + "\n";
}

json renderPlanJson(const std::vector<PlannedAction>& plan) {
  json out = json::array();
  for (const auto& a : plan) {
    out.push_back(json{{"id", a.id},
                       {"kind", a.kind},
                       {"action", actionName(a.action)},
                       {"reason", a.reason},
                       {"diff", a.diff.is_null() ? json::object() : a.diff},
                       {"conflict", a.conflict},
                       {"drift", a.drift}});
  }
  return json::parse(Redactor::instance().redact(out.dump()));
}

json renderEventsJson(const std::vector<EventRecord>& events) {
  json out = json::array();
  for (const auto& e : events) {
    out.push_back(json{{"id", e.id},
                       {"time", isoTimeMs(e.unixMs)},
                       {"level", e.level},
                       {"resource", e.resource},
                       {"reason", e.reason},
                       {"message", Redactor::instance().redact(e.message)},
                       {"run_id", e.runId}});
  }
  return out;
}

}  // namespace tend::daemon
