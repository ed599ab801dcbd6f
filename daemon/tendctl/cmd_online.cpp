// tendctl commands that talk to a running tendd: status, plan, reconcile, events.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "daemon/server/auth.h"
#include "daemon/client/http_client.h"
#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {
using json = nlohmann::json;
using daemon::ClientTarget;
using daemon::HttpReply;

struct Called {
  int exit = kOk;    // non-zero: stop with this code (message already printed)
  json body;
};

Result<ClientTarget> target(const Conn& c) {
  ClientTarget t;
  t.socket = c.socket;
  t.url = c.url;
  t.caFile = c.caFile;
  if (!c.tokenFile.empty()) {
    auto tok = daemon::readSecretFile(c.tokenFile);
    if (!tok.ok()) return makeError("--token-file: " + tok.error().message);
    t.token = *tok;
  }
  return t;
}

Called call(const Conn& c, const std::string& method, const std::string& path,
            const std::string& body = "", std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  Called out;
  auto t = target(c);
  if (!t.ok()) {
    std::cerr << "tendctl: " << t.error().message << "\n";
    out.exit = kUsage;
    return out;
  }
  auto r = daemon::httpCall(*t, method, path, body, timeout);
  if (!r.ok()) {
    std::cerr << "tendctl: " << r.error().message << "\n";
    out.exit = kUnreachable;
    return out;
  }
  out.body = json::parse(r->body, nullptr, false);
  if (r->status >= 400) {
    std::string msg = out.body.is_object() && out.body.contains("error") && out.body["error"].is_string()
                          ? out.body["error"].get<std::string>()
                          : r->body;
    std::cerr << "tendctl: " << method << " " << path << ": HTTP " << r->status << ": " << msg << "\n";
    out.exit = kFailure;
    return out;
  }
  if (out.body.is_discarded()) {
    std::cerr << "tendctl: " << method << " " << path << ": the answer is not JSON\n";
    out.exit = kFailure;
  }
  return out;
}

std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

// Columns sized to their content; the last column is not padded.
void printTable(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(head.size());
  for (size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(w[i] - r[i].size() + 2, ' ');
    }
    std::cout << s << "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
}

std::string runLine(const json& r) {
  std::ostringstream s;
  s << "run " << str(r, "run_id") << ": " << str(r, "result") << " (" << str(r, "ready") << " ready, "
    << str(r, "failed") << " failed, " << str(r, "blocked") << " blocked, " << str(r, "changed")
    << " changed)";
  return s.str();
}

}  // namespace

int cmdStatus(const Conn& c, const std::string& output) {
  auto r = call(c, "GET", "/v1/status");
  if (r.exit) return r.exit;
  if (output == "json") {
    std::cout << r.body.dump(2) << "\n";
    return kOk;
  }
  const auto& b = r.body;
  std::cout << "revision:  " << (str(b, "revision").empty() ? "(none)" : str(b, "revision"));
  if (!str(b, "environment").empty()) std::cout << "   environment: " << str(b, "environment");
  std::cout << "\n";
  if (b.contains("last_run") && b["last_run"].is_object()) {
    const auto& lr = b["last_run"];
    std::cout << "last run:  #" << str(lr, "id") << " " << str(lr, "result") << ", started "
              << str(lr, "started");
    if (!str(lr, "finished").empty()) std::cout << ", finished " << str(lr, "finished");
    if (!str(lr, "summary").empty()) std::cout << " (" << str(lr, "summary") << ")";
    std::cout << "\n";
  } else {
    std::cout << "last run:  (none yet)\n";
  }
  if (!str(b, "spec_error").empty()) {
    std::cout << "spec error (the last good spec stays applied):\n";
    std::istringstream lines(str(b, "spec_error"));
    for (std::string l; std::getline(lines, l);) std::cout << "  " << l << "\n";
  }
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, int> phases;
  if (b.contains("resources") && b["resources"].is_array()) {
    for (const auto& res : b["resources"]) {
      phases[str(res, "phase")]++;
      rows.push_back({str(res, "id"), str(res, "phase"), res.value("drifted", false) ? "yes" : "",
                      str(res, "last_applied"), str(res, "message")});
    }
  }
  std::cout << "\n";
  if (rows.empty()) {
    std::cout << "no resources\n";
  } else {
    printTable({"RESOURCE", "PHASE", "DRIFT", "LAST APPLIED", "MESSAGE"}, rows);
    std::cout << "\n" << rows.size() << " resources:";
    for (const auto& [p, n] : phases) std::cout << " " << n << " " << p;
    std::cout << "\n";
  }
  return kOk;
}

int cmdPlanOnline(const Conn& c, const std::string& output) {
  auto r = call(c, "GET", "/v1/plan", "", std::chrono::minutes(10));
  if (r.exit) return r.exit;
  if (output == "json") {
    std::cout << r.body.dump(2) << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, int> counts;
  for (const auto& a : r.body) {
    counts[str(a, "action")]++;
    if (str(a, "action") == "noop") continue;
    rows.push_back({str(a, "action"), str(a, "id"), str(a, "reason")});
  }
  if (rows.empty()) std::cout << "nothing to do: every resource matches the spec\n";
  else printTable({"ACTION", "RESOURCE", "REASON"}, rows);
  std::string sum;
  for (const char* k : {"create", "update", "replace", "delete"})
    sum += (sum.empty() ? " " : ", ") + std::to_string(counts[k]) + " to " + k;
  std::cout << "\nplan:" << sum << ", " << counts["noop"] << " unchanged\n";
  return kOk;
}

int cmdReconcile(const Conn& c, bool wait, const std::vector<std::string>& resources,
                 const std::string& output) {
  json body = json::object();
  if (!resources.empty()) body["resources"] = resources;
  if (wait) body["wait"] = true;
  auto r = call(c, "POST", "/v1/reconcile", body.dump(),
                wait ? std::chrono::hours(24) : std::chrono::seconds(30));
  if (r.exit) return r.exit;
  if (output == "json") std::cout << r.body.dump(2) << "\n";
  if (!wait) {
    if (output != "json") {
      if (r.body.contains("run_id") && !r.body["run_id"].is_null())
        std::cout << "run " << str(r.body, "run_id") << " " << str(r.body, "status") << "\n";
      else
        std::cout << "pass queued (a pass is already running)\n";
    }
    return kOk;
  }
  if (output != "json") std::cout << runLine(r.body) << "\n";
  return str(r.body, "result") == "success" ? kOk : kFailure;
}

int cmdExplainOnline(const Conn& c, const std::string& what, const std::string& output) {
  std::string path = "/v1/explain/" + daemon::urlEncode(what);
  auto r = call(c, "GET", path);
  if (r.exit) return r.exit;
  return printExplain(r.body, output);
}

namespace {
void printEvent(const json& e, const std::string& output) {
  if (output == "json") {
    std::cout << e.dump() << "\n";  // one event per line while following
    return;
  }
  std::cout << str(e, "id") << "  " << str(e, "time") << "  " << std::left << std::setw(5) << str(e, "level")
            << "  " << (str(e, "resource").empty() ? "-" : str(e, "resource")) << "  " << str(e, "reason")
            << ": " << str(e, "message") << "\n";
}

// --follow: the server-sent event stream of /v1/events, resumed after the last id seen when
// the connection drops (a daemon restart, a proxy timeout).
int followEvents(const Conn& c, long long since, const std::string& output) {
  auto t = target(c);
  if (!t.ok()) {
    std::cerr << "tendctl: " << t.error().message << "\n";
    return kUsage;
  }
  long long last = since;
  bool everConnected = false;
  for (;;) {
    auto r = daemon::httpStream(*t, "/v1/events?since=" + std::to_string(last), [&](const daemon::SseMessage& m) {
      everConnected = true;
      if (!m.event.empty()) return true;  // only events; status changes are for the UIs
      json e = json::parse(m.data, nullptr, false);
      if (e.is_discarded()) return true;
      last = std::max<long long>(last, e.value("id", 0LL));
      printEvent(e, output);
      std::cout.flush();
      return true;
    });
    if (!r.ok()) {
      if (!everConnected) {
        std::cerr << "tendctl: " << r.error().message << "\n";
        return kUnreachable;
      }
      std::cerr << "tendctl: event stream lost (" << r.error().message << "), reconnecting\n";
    } else if (r->status != 200) {
      std::cerr << "tendctl: GET /v1/events (stream): HTTP " << r->status << ": " << r->error << "\n";
      if (r->status != 503) return kFailure;
    }
    everConnected = everConnected || (r.ok() && r->status == 200);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}
}  // namespace

int cmdEvents(const Conn& c, long long since, bool follow, const std::string& output) {
  if (follow) return followEvents(c, since, output);
  auto r = call(c, "GET", "/v1/events?since=" + std::to_string(since) + "&limit=1000");
  if (r.exit) return r.exit;
  if (output == "json") {
    std::cout << r.body.dump(2) << "\n";
    return kOk;
  }
  for (const auto& e : r.body) printEvent(e, output);
  if (r.body.empty()) std::cerr << "no events after " << since << "\n";
  return kOk;
}

}  // namespace tend::ctl
