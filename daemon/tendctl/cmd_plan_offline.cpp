// tendctl plan --offline [DIR] [--state FILE]: what a reconcile would do, judged from the
// recorded state only (no provider is contacted). A missing state file is a fresh state and is
// not created.
#include <sys/stat.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/offline_plan.h"
#include "core/spec.h"
#include "daemon/tendctl/commands.h"
#include "state/sqlite_state_store.h"

namespace tend::ctl {

nlohmann::json diagnosticsJson(const Diagnostics& diags, Severity which);

int cmdPlanOffline(const std::string& dir, const std::string& stateFile, const std::string& output) {
  LoadResult r = loadSpecChecked(dir);
  if (!r.ok()) {
    if (output == "json") {
      nlohmann::json j = {{"ok", false}, {"errors", diagnosticsJson(r.diagnostics, Severity::Error)}};
      std::cout << j.dump(2) << "\n";
    } else {
      for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";
    }
    return kFailure;
  }
  if (output != "json")
    for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";

  std::map<std::string, ResourceRecord> recorded;
  struct stat st {};
  bool fresh = stateFile.empty() || ::stat(stateFile.c_str(), &st) != 0;
  if (!fresh) {
    auto store = openSqliteStateStore(stateFile);
    if (!store) {
      std::cerr << "tendctl: cannot open state " << stateFile << ": " << store.error().message << "\n";
      return kFailure;
    }
    auto recs = (*store)->loadResources();
    if (!recs) {
      std::cerr << "tendctl: cannot read state " << stateFile << ": " << recs.error().message << "\n";
      return kFailure;
    }
    for (auto& rec : *recs) recorded.emplace(rec.id, std::move(rec));
  }

  // The providers' own plan code, against what the state knows (core/offline_plan.h).
  const DesiredGraph& g = *r.graph;
  std::vector<PlannedAction> rows = planOffline(g, recorded, builtinProviders());
  if (output == "json") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& row : rows)
      a.push_back({{"id", row.id}, {"action", actionName(row.action)}, {"reason", row.reason}, {"diff", row.diff}});
    std::cout << a.dump(2) << "\n";
    return kOk;
  }
  size_t width = 6;
  for (const auto& row : rows) width = std::max(width, row.id.size());
  std::map<std::string, int> counts;
  std::cout << std::left << std::setw(8) << "ACTION" << std::setw(static_cast<int>(width) + 2) << "RESOURCE"
            << "REASON\n";
  for (const auto& row : rows) {
    counts[row.action == Action::Replace ? "update" : actionName(row.action)]++;  // a replace updates
    std::cout << std::left << std::setw(8) << actionName(row.action) << std::setw(static_cast<int>(width) + 2)
              << row.id << row.reason << "\n";
  }
  std::cout << "\nPlan (revision " << g.revision << (fresh ? ", fresh state" : "") << "): " << counts["create"]
            << " to create, " << counts["update"] << " to update, " << counts["delete"] << " to delete, "
            << counts["noop"] << " unchanged.\n";
  return kOk;
}

}  // namespace tend::ctl
