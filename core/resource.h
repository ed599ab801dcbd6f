#pragma once
// Desired resources: what expansion of a spec produces and what providers consume.
// The provider-specific configuration travels as JSON (`spec`); its shape per kind is
// documented in docs/resources.md and is the contract between core/ expansion and providers.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnostic.h"

namespace tend {

// Resource ids (CONTRACT.md): vm/NAME, host/NAME, container/APP/NAME, network/HOST/NAME,
// volume/HOST/NAME, zone/ZONE@VIEW, template/NAME; tend adds image/HOST/REF and dnsconf/SERVER.
struct DesiredResource {
  std::string id;
  std::string kind;      // "vm", "host", "container", "network", "volume", "image", "zone", ...
  std::string provider;  // "proxmox", "ssh", "docker", "bind9", "local"
  std::string host;      // the host the object lives on ("" when not host-bound); observe groups by it
  nlohmann::json spec;   // provider-specific desired config; secrets stay symbolic: "${secret:NAME}"
  std::vector<std::string> dependsOn;  // ids that must be ready first (implicit + tiers + explicit)
  std::string hash;      // sha256 hex of the canonical spec (secrets symbolic)
  Location loc;          // where the resource was declared
  int tier = 0;          // deploy wave index (0 = first); informational, edges already encode it
  // Where single payload fields were written ("privileged", "network_mode", "cap_add/0",
  // "devices/1", "volumes/2"), for checks over the payload that must point at the spec line
  // asking for it (the operator policy). Only the fields such checks read, when set.
  std::vector<std::pair<std::string, Location>> fieldLocs;
  const Location& locOf(std::string_view field) const {
    for (const auto& [f, l] : fieldLocs)
      if (f == field) return l;
    return loc;
  }
};

// The expanded, validated spec: an immutable DAG. Shared between threads via shared_ptr<const>.
struct DesiredGraph {
  std::string environment;
  std::string revision;  // commit id (+"-dirty") or content hash
  std::vector<DesiredResource> resources;  // topologically sorted: dependencies first
  // Positions in `resources`, ordered by id: find() is a binary search over them. (A map of
  // id copies cost 10^4 allocations on every load of a large spec.)
  std::vector<uint32_t> byId;
  bool prune = true;                       // reconcile.prune
  int intervalSeconds = 300;               // reconcile.interval
  std::map<std::string, int> parallelism;  // provider -> max concurrent applies
  // reconcile.call_timeout: provider -> deadline of one call (over the provider's default).
  std::map<std::string, std::chrono::seconds> callTimeouts;
  std::vector<std::string> secretNames;    // names referenced by ${secret:...}
  std::map<std::string, nlohmann::json> providerConfigs;  // providers.<name> (secrets symbolic)
  std::string specDir;                     // absolute path of the spec directory
  std::string secretsFile;                 // absolute path of secrets.file, "" when none
  // Names of the tiers by index (DesiredResource::tier): "networking", "ca+ntp", ...; empty
  // when the spec declares none.
  std::vector<std::string> tierNames;

  const DesiredResource* find(std::string_view id) const {
    auto it = std::lower_bound(byId.begin(), byId.end(), id,
                               [&](uint32_t pos, std::string_view key) { return resources[pos].id < key; });
    return it == byId.end() || resources[*it].id != id ? nullptr : &resources[*it];
  }
  // Rebuilds byId after `resources` changed (ids are unique).
  void reindex();
};

using DesiredGraphPtr = std::shared_ptr<const DesiredGraph>;

// "container/bookstack/web" -> "container"
inline std::string kindOfId(const std::string& id) { return id.substr(0, id.find('/')); }

}  // namespace tend
