#include "daemon/server/status_render.h"

#include "core/secrets.h"
#include "daemon/server/api.h"

namespace tend::daemon {
using json = nlohmann::json;

json renderRunJson(const RunRecord& r) {
  return json{{"id", r.id},
              {"started", isoTimeMs(r.startedUnixMs)},
              {"finished", r.finishedUnixMs ? json(isoTimeMs(r.finishedUnixMs)) : json(nullptr)},
              {"result", r.result},
              {"trigger", r.trigger},
              {"revision", r.revision},
              {"summary", r.summary}};
}

json renderStatusHead(const StatusView& v) {
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
  j["last_run"] = v.lastRun ? renderRunJson(*v.lastRun) : json(nullptr);
  return j;
}

json renderResourceJson(const ResourceStatus& s, const DesiredGraph* g) {
  json tier = nullptr, app = nullptr;
  if (const DesiredResource* r = g ? g->find(s.id) : nullptr) {
    if (r->tier >= 0 && static_cast<size_t>(r->tier) < g->tierNames.size()) tier = g->tierNames[r->tier];
    if (r->spec.is_object() && r->spec.contains("app") && r->spec["app"].is_string()) app = r->spec["app"];
  }
  if (app.is_null() && s.kind == "container") {
    // container/APP/NAME
    auto a = s.id.find('/'), b = s.id.find('/', a + 1);
    if (b != std::string::npos) app = s.id.substr(a + 1, b - a - 1);
  }
  return json{{"id", s.id},
              {"kind", s.kind},
              {"phase", s.phase},
              {"message", s.message},
              {"drifted", s.drifted},
              {"last_applied", s.lastAppliedUnix > 0 ? json(isoTimeMs(s.lastAppliedUnix * 1000)) : json(nullptr)},
              {"depends_on", s.dependsOn},
              {"tier", tier},
              {"app", app}};
}

std::string renderStatusJson(const StatusView& v) {
  json j = renderStatusHead(v);
  json resources = json::array();
  for (const auto& s : v.resources) resources.push_back(renderResourceJson(s, v.graph.get()));
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
