#include "core/engine/prune_stage.h"

#include "core/log.h"

namespace tend::engine {

int pruneRank(const std::string& kind) {
  if (kind == "container") return 0;
  if (kind == "network" || kind == "volume" || kind == "image") return 1;
  if (kind == "zone") return 2;
  if (kind == "dnsconf") return 3;
  if (kind == "host") return 4;
  if (kind == "vm") return 5;
  if (kind == "template") return 6;
  return 0;  // unknown kinds: nothing of ours depends on them
}

int pruneRank(const std::function<int(const std::string&)>& registered, const std::string& kind) {
  return registered ? registered(kind) : pruneRank(kind);
}

std::vector<PruneCandidate> pruneCandidates(const std::map<std::string, ObservedResource>& observed,
                                            const std::set<std::string>& kinds,
                                            const DesiredGraph& graph, const std::string& providerName) {
  std::vector<PruneCandidate> out;
  for (const auto& [id, o] : observed) {
    if (!o.exists || id.empty()) continue;
    if (graph.find(id)) continue;
    if (o.id != id || id.find('/') == std::string::npos) {
      log::warn("provider " + providerName + " reported a malformed object id '" + id + "'; ignored");
      continue;
    }
    if (!o.owned || !kinds.count(kindOfId(id))) continue;
    out.push_back(PruneCandidate{id, kindOfId(id), o});
  }
  return out;
}

}  // namespace tend::engine
