#include "daemon/server/web.h"

#include "daemon/client/http_client.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "core/secrets.h"
#include "daemon/client/http_client.h"
#include "daemon/server/api.h"

namespace tend::daemon {

namespace web_assets {
// Generated at build time from daemon/server/web/* (daemon/server/web/embed.cmake).
extern const WebAsset kAssets[];
extern const std::size_t kAssetCount;
}  // namespace web_assets

const char* const kWebCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const WebAsset* findWebAsset(std::string_view name) {
  for (std::size_t i = 0; i < web_assets::kAssetCount; ++i)
    if (name == web_assets::kAssets[i].name) return &web_assets::kAssets[i];
  return nullptr;
}

std::string htmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {


std::string get(const std::map<std::string, std::string>& q, const char* k) {
  auto it = q.find(k);
  return it == q.end() ? "" : it->second;
}

const char* kPhases[] = {"ready", "progressing", "pending", "blocked", "failed", "deleting"};

struct Row {
  const ResourceStatus* s;
  std::string tier, app;
};

// Substitutes <!--NAME--> in the template.
void put(std::string& page, const std::string& name, const std::string& value) {
  const std::string mark = "<!--" + name + "-->";
  auto pos = page.find(mark);
  if (pos != std::string::npos) page.replace(pos, mark.size(), value);
}

}  // namespace

std::string renderIndexPage(const StatusView& v, const std::map<std::string, std::string>& query) {
  const WebAsset* tpl = findWebAsset("index.html");
  std::string page = tpl ? std::string(reinterpret_cast<const char*>(tpl->data), tpl->size)
                         : std::string("<!doctype html><title>tend</title><!--TABLE-->");
  auto& red = Redactor::instance();
  auto esc = [&](std::string_view s) { return htmlEscape(red.redact(std::string(s))); };

  const DesiredGraph* g = v.graph.get();
  std::vector<Row> rows;
  rows.reserve(v.resources.size());
  for (const auto& s : v.resources) {
    nlohmann::json j = renderResourceJson(s, g);
    rows.push_back(Row{&s, j["tier"].is_string() ? j["tier"].get<std::string>() : "",
                       j["app"].is_string() ? j["app"].get<std::string>() : ""});
  }

  // Head: environment, revision, last run, spec error.
  std::string head = "<dl class=\"facts\">";
  head += "<dt>environment</dt><dd id=\"f-env\">" + esc(v.environment.value_or("(none)")) + "</dd>";
  head += "<dt>revision</dt><dd id=\"f-rev\"><code>" + esc(v.revision.value_or("(none)")) + "</code></dd>";
  head += "<dt>last run</dt><dd id=\"f-run\">";
  if (v.lastRun) {
    const auto& r = *v.lastRun;
    head += "#" + std::to_string(r.id) + " " + esc(r.result) + " (" + esc(r.trigger) + ", started " +
            esc(isoTimeMs(r.startedUnixMs)) + (r.summary.empty() ? "" : ", " + esc(r.summary)) + ")";
  } else {
    head += "none yet";
  }
  head += "</dd>";
  if (v.dryRun) head += "<dt>mode</dt><dd>dry run</dd>";
  head += "</dl>";
  if (!v.specErrors.empty()) {
    head += "<div class=\"spec-error\" id=\"f-specerr\"><strong>spec error</strong> (the last good spec stays applied)<pre>";
    for (const auto& l : v.specErrors) head += esc(l) + "\n";
    head += "</pre></div>";
  }
  put(page, "HEAD", head);

  // Counts by tier and phase.
  std::vector<std::string> tierOrder;
  std::map<std::string, std::map<std::string, int>> counts;
  for (const auto& r : rows) {
    const std::string t = r.tier.empty() ? "(no tier)" : r.tier;
    if (!counts.count(t)) tierOrder.push_back(t);
    counts[t][r.s->phase]++;
    counts[t]["total"]++;
  }
  if (g) {  // tiers in deploy order
    std::vector<std::string> ordered;
    for (const auto& t : g->tierNames)
      if (counts.count(t)) ordered.push_back(t);
    for (const auto& t : tierOrder)
      if (std::find(ordered.begin(), ordered.end(), t) == ordered.end()) ordered.push_back(t);
    tierOrder = ordered;
  }
  std::string summary = "<table class=\"tiers\" id=\"tier-table\"><thead><tr><th>tier</th><th>resources</th>";
  for (const char* p : kPhases) summary += std::string("<th>") + p + "</th>";
  summary += "</tr></thead><tbody>";
  for (const auto& t : tierOrder) {
    auto& c = counts[t];
    summary += "<tr><td>" + esc(t) + "</td><td>" + std::to_string(c["total"]) + "</td>";
    for (const char* p : kPhases) {
      int n = c[p];
      summary += std::string("<td class=\"") + (n ? p : "zero") + "\">" + std::to_string(n) + "</td>";
    }
    summary += "</tr>";
  }
  summary += "</tbody></table>";
  put(page, "SUMMARY", summary);

  // Filter form and the table (paged).
  const std::string q = get(query, "q"), phase = get(query, "phase"), kind = get(query, "kind"),
                    tier = get(query, "tier");
  std::string qLower = q;
  std::transform(qLower.begin(), qLower.end(), qLower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::vector<const Row*> shown;
  for (const auto& r : rows) {
    if (!phase.empty() && r.s->phase != phase) continue;
    if (!kind.empty() && r.s->kind != kind) continue;
    if (!tier.empty() && r.tier != tier) continue;
    if (!qLower.empty()) {
      std::string hay = r.s->id + " " + r.s->message + " " + r.app;
      std::transform(hay.begin(), hay.end(), hay.begin(), [](unsigned char c) { return std::tolower(c); });
      if (hay.find(qLower) == std::string::npos) continue;
    }
    shown.push_back(&r);
  }
  long per = 200, pageNo = 1;
  try {
    if (!get(query, "per").empty()) per = std::clamp(std::stol(get(query, "per")), 10L, 1000L);
    if (!get(query, "page").empty()) pageNo = std::max(1L, std::stol(get(query, "page")));
  } catch (const std::exception&) {
  }
  const long pages = std::max<long>(1, (static_cast<long>(shown.size()) + per - 1) / per);
  pageNo = std::min(pageNo, pages);

  std::string form = "<form method=\"get\" action=\"/\" class=\"filter\" id=\"filter-form\">"
                     "<input type=\"search\" name=\"q\" placeholder=\"filter: text, phase:failed, kind:container\" value=\"" +
                     htmlEscape(q) + "\"> <select name=\"phase\"><option value=\"\">any phase</option>";
  for (const char* p : kPhases)
    form += std::string("<option") + (phase == p ? " selected" : "") + ">" + p + "</option>";
  form += "</select> <input type=\"text\" name=\"kind\" size=\"10\" placeholder=\"kind\" value=\"" + htmlEscape(kind) +
          "\"> <button type=\"submit\">Filter</button></form>";
  put(page, "FILTER", form);

  std::string table = "<p class=\"count\" id=\"row-count\">" + std::to_string(shown.size()) + " of " +
                      std::to_string(rows.size()) + " resources</p>"
                      "<table class=\"resources\" id=\"resource-table\"><thead><tr><th>resource</th><th>tier</th>"
                      "<th>app</th><th>phase</th><th>message</th><th>last applied</th></tr></thead><tbody>";
  const std::size_t from = static_cast<std::size_t>((pageNo - 1) * per);
  for (std::size_t i = from; i < shown.size() && i < from + static_cast<std::size_t>(per); ++i) {
    const Row& r = *shown[i];
    const auto& s = *r.s;
    table += "<tr><td><a href=\"/#/r/" + htmlEscape(urlEncode(s.id)) + "\">" + esc(s.id) + "</a>" +
             (s.drifted ? " <span class=\"drift\">drifted</span>" : "") + "</td><td>" + esc(r.tier) + "</td><td>" +
             esc(r.app) + "</td><td class=\"phase " + esc(s.phase) + "\">" + esc(s.phase) + "</td><td>" +
             esc(s.message) + "</td><td>" +
             (s.lastAppliedUnix > 0 ? esc(isoTimeMs(s.lastAppliedUnix * 1000)) : std::string("-")) + "</td></tr>";
  }
  table += "</tbody></table>";
  put(page, "TABLE", table);

  std::string pager;
  if (pages > 1) {
    auto link = [&](long p, const std::string& text) {
      std::string href = "/?page=" + std::to_string(p) + "&per=" + std::to_string(per);
      if (!q.empty()) href += "&q=" + urlEncode(q);
      if (!phase.empty()) href += "&phase=" + urlEncode(phase);
      if (!kind.empty()) href += "&kind=" + urlEncode(kind);
      if (!tier.empty()) href += "&tier=" + urlEncode(tier);
      return "<a href=\"" + htmlEscape(href) + "\">" + text + "</a>";
    };
    pager = "<nav class=\"pager\">";
    if (pageNo > 1) pager += link(pageNo - 1, "&larr; previous") + " ";
    pager += "page " + std::to_string(pageNo) + " of " + std::to_string(pages);
    if (pageNo < pages) pager += " " + link(pageNo + 1, "next &rarr;");
    pager += "</nav>";
  }
  put(page, "PAGER", pager);
  put(page, "TITLE", esc("tend — " + v.environment.value_or("no spec")));
  return page;
}

}  // namespace tend::daemon
