// Stage 3: a validated spec into the desired-resource DAG (docs/resources.md is the contract).
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/spec/derived.h"
#include "core/spec/json_hash.h"
#include "core/spec/loader.h"

namespace tend::spec {

using nlohmann::json;


namespace {

// Hashes payloads on a second thread while expansion goes on building the next ones: a
// payload is final once added. The worker reads only the payload's map (heap; it stays put
// when the resources vector moves its json handles) and returns raw digests; the hex
// strings are made on the expanding thread. finish() waits for all of them and rethrows
// the first error (what the inline hash would have thrown, e.g. invalid UTF-8).
class HashPool {
 public:
  struct Job {
    uint32_t ix;
    const json::object_t* payload;
    const PayloadDefaults* defaults;
  };
  struct Done {
    uint32_t ix;
    Sha256 digest;
  };

  HashPool() : worker_([this] { run(); }) {}
  ~HashPool() {
    if (worker_.joinable()) {
      stop();
      worker_.join();
    }
  }
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  void push(uint32_t ix, const json::object_t* payload, const PayloadDefaults* defaults) {
    batch_.push_back({ix, payload, defaults});
    if (batch_.size() >= 32) flush();
  }
  std::vector<Done> finish() {
    flush();
    stop();
    worker_.join();
    if (error_) std::rethrow_exception(error_);
    return std::move(done_);
  }

 private:
  void flush() {
    if (batch_.empty()) return;
    {
      std::lock_guard lk(mu_);
      queue_.insert(queue_.end(), batch_.begin(), batch_.end());
    }
    batch_.clear();
    cv_.notify_one();
  }
  void stop() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
  }
  void run() {
    std::vector<Job> work;
    while (true) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
        if (queue_.empty()) return;
        work.swap(queue_);
      }
      for (const auto& j : work) {
        if (error_) break;  // the first error is the one reported
        try {
          done_.push_back({j.ix, objectSha256(*j.payload, *j.defaults)});
        } catch (...) {
          error_ = std::current_exception();
        }
      }
      work.clear();
    }
  }

  std::vector<Job> batch_;  // expanding thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<Done> done_;  // worker only until joined
  std::exception_ptr error_;  // worker only until joined
  std::thread worker_;  // last: started once every other member exists
};

}  // namespace

// Named (not in the anonymous namespace) so that Expansion, declared in loader.h, can own one.
struct Expander {
  Expander(const Spec& spec, Diagnostics& diags, const ProviderRegistry& registry)
      : s(spec), d(diags), providers(registry) {}
  const Spec& s;
  Diagnostics& d;
  const ProviderRegistry& providers;
  std::shared_ptr<DesiredGraph> g = std::make_shared<DesiredGraph>();
  // id -> position in g->resources: a set of positions, hashed and compared through the
  // resources' own ids. No id is copied, and nothing is rebuilt when the vector reallocates
  // (views of the ids would dangle: a short id lives inside its resource).
  struct IdHash {
    using is_transparent = void;
    const std::vector<DesiredResource>* rs;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
    size_t operator()(uint32_t pos) const { return (*this)(std::string_view((*rs)[pos].id)); }  // not noexcept: codes cached
  };
  struct IdEq {
    using is_transparent = void;
    const std::vector<DesiredResource>* rs;
    std::string_view key(uint32_t pos) const { return (*rs)[pos].id; }
    static std::string_view key(std::string_view id) { return id; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return key(a) == key(b);
    }
  };
  std::unordered_set<uint32_t, IdHash, IdEq> idx{0, IdHash{&g->resources}, IdEq{&g->resources}};
  // Dependencies whose target position is known when they are added (most are): sortTopo
  // needs no id lookup for them. `pos` is the place in the dependent's dependsOn.
  struct KnownDep {
    uint32_t from, pos, to;
  };
  std::vector<KnownDep> knownDeps;
  std::vector<std::string> secrets;
  // Tier bookkeeping: resources that later tiers wait for, per tier; and who must wait.
  std::vector<std::vector<uint32_t>> tierMembers;  // resource positions
  std::vector<std::pair<size_t, int>> tierBound;  // resource index, tier
  const PayloadDefaults& containerDefaults = payloadDefaults("container");
  const PayloadDefaults& noDefaults = payloadDefaults("");
  // Hashing on a second thread for large specs (null: hashed inline in add()).
  std::unique_ptr<HashPool> hashes;
  bool noHashThread = false;  // a thread could not be had: hash inline
  static constexpr size_t kHashThreadFrom = 256;  // resources; below, a thread costs more than it saves
  void startHashThread() {
    if (hashes || noHashThread) return;
    try {
      hashes = std::make_unique<HashPool>();
    } catch (const std::system_error&) {
      noHashThread = true;
    }
  }

  std::string str(const std::string& text, const SpecLoc& loc, const std::string& app) {
    return interpolate(s, text, loc, app, &d, &secrets);
  }
  std::string str(const Str& v, const std::string& app) { return str(v.v, v.loc, app); }

  DesiredResource* add(std::string id, std::string kind, std::string provider, std::string host,
                       json spec, const SpecLoc& loc, int tier) {
    auto& rs = g->resources;
    // Expanded while apps.yml is still read, the final count is not known up front: the
    // hashing thread starts once the spec proves large.
    if (!hashes && rs.size() + 1 == kHashThreadFrom) startHashThread();
    DesiredResource& r = rs.emplace_back();
    r.id = std::move(id);
    // One lookup: the id is entered, or found to be taken.
    if (!idx.insert(static_cast<uint32_t>(rs.size() - 1)).second) {
      rs.pop_back();
      return nullptr;
    }
    r.kind = std::move(kind);
    r.provider = std::move(provider);
    r.host = std::move(host);
    r.spec = std::move(spec);
    // Hashed now, while the payload just built is still in cache: nothing changes a payload
    // after it is added (dependencies are kept outside it).
    const PayloadDefaults& defs = r.kind == "container" ? containerDefaults : noDefaults;
    if (hashes && r.spec.is_object())
      hashes->push(static_cast<uint32_t>(rs.size() - 1), &r.spec.get_ref<const json::object_t&>(), &defs);
    else
      r.hash = jsonSha256Hex(r.spec, defs);
    r.loc = loc;
    r.tier = tier;
    return &r;
  }
  uint32_t ixOf(const DesiredResource* r) const { return static_cast<uint32_t>(r - g->resources.data()); }
  // Position of an id, or kNone.
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t ixOf(std::string_view id) const {
    auto it = idx.find(id);
    return it == idx.end() ? kNone : *it;
  }
  // Duplicates are removed once, in sortTopo (a linear check here is quadratic for zones).
  static void dep(DesiredResource* r, std::string on) {
    if (r) r->dependsOn.push_back(std::move(on));
  }
  // A dependency on the resource at position `to` (kNone: resolved by id in sortTopo).
  void dep(DesiredResource* r, std::string on, uint32_t to) {
    if (!r) return;
    if (to != kNone) knownDeps.push_back({ixOf(r), static_cast<uint32_t>(r->dependsOn.size()), to});
    r->dependsOn.push_back(std::move(on));
  }
  void tierMember(int tier, uint32_t ix) {
    if (tier < 0 || ix == kNone) return;
    if (static_cast<size_t>(tier) >= tierMembers.size()) tierMembers.resize(tier + 1);
    tierMembers[tier].push_back(ix);
  }
  void bindTier(uint32_t ix, int tier) {
    if (tier > 0 && ix != kNone) tierBound.emplace_back(ix, tier);
  }

  int tierOf(const Str& t, int dflt) const {
    if (!t.set) return dflt;
    int i = s.tierIndex(t.v);
    return i < 0 ? dflt : i;
  }
  std::string deployPath() const { return s.deployPath.set ? s.deployPath.v : "/opt"; }
  const json* providerCfg(const std::string& n) const {
    auto it = s.providers.find(n);
    return it == s.providers.end() ? nullptr : &it->second.config;
  }
  // The provider registered for `kind` (ProviderRegistration::kinds), so a provider that
  // serves a kind plugs in without a change here; `conventional` when no registration names
  // the kind (a registry without that provider: the resources then fail as "not built").
  mutable std::unordered_map<std::string, std::string> kindProviders;
  const std::string& prov(const std::string& kind, const char* conventional) const {
    auto it = kindProviders.find(kind);
    if (it == kindProviders.end()) {
      std::string p = providers.providerOfKind(kind);
      it = kindProviders.emplace(kind, p.empty() ? std::string(conventional) : p).first;
    }
    return it->second;
  }
  int sshPortOf(const std::string& m) const { return machineSshPort(s, m); }

  // The keys of `providers.NAME` its registration says every payload carries, when set.
  void sectionFields(const std::string& provider, json& payload) const {
    const ProviderRegistration* r = providers.find(provider);
    const json* cfg = providerCfg(provider);
    if (!r || !cfg) return;
    for (const auto& k : r->payloadKeys)
      if (auto it = cfg->find(k); it != cfg->end()) payload[k] = *it;
  }

  // One endpoint per (provider, machine), computed once by the provider's registration:
  // every image, network, volume and container of a host carries it.
  std::unordered_map<std::string, std::string> endpoints;
  const std::string& endpointOf(const std::string& provider, const std::string& machine) {
    std::string key = provider + '\0' + machine;
    auto it = endpoints.find(key);
    if (it == endpoints.end()) {
      const ProviderRegistration* r = providers.find(provider);
      it = endpoints.emplace(key, r && r->endpoint ? r->endpoint(s, machine) : std::string()).first;
    }
    return it->second;
  }
  const std::string& dockerEndpointCached(const std::string& machine) { return endpointOf(prov("container", "docker"), machine); }

  // ---- machines --------------------------------------------------------------------------
  void templates() {
    for (const auto& t : s.templates) {
      json j = {{"name", t.name}, {"vmid", t.vmid.v}};
      if (t.imageUrl.set) j["image_url"] = t.imageUrl.v;
      if (t.sha256.set) j["sha256"] = t.sha256.v;
      if (t.cores.set) j["cores"] = t.cores.v;
      if (t.memory.set) j["memory"] = t.memory.v;
      if (t.disk.set) j["disk"] = t.disk.v;
      sectionFields(prov("template", "proxmox"), j);
      add("template/" + t.name, "template", prov("template", "proxmox"), "", j, t.loc, 0);
    }
  }

  json nameserverIps(const std::vector<Str>* own = nullptr) const {
    json a = json::array();
    for (const auto& n : own && !own->empty() ? *own : s.nameservers) {
      std::string ip = s.addressOf(n.v);
      a.push_back(ip.empty() ? n.v : ip);
    }
    return a;
  }

  void vms() {
    uint32_t net = 0;
    int prefix = 24;
    if (s.cidr.set) parseCidr(s.cidr.v, net, prefix);
    for (const auto& v : s.vms) {
      const TemplateSpec* t = v.templ.set ? s.templ(v.templ.v) : nullptr;
      json j = {{"name", v.name}, {"vmid", v.vmid.v}, {"ip", v.ip.v}, {"prefix", prefix},
                {"template", t ? json(t->vmid.v) : json(nullptr)}, {"template_name", v.templ.v},
                {"cores", v.cores.set ? v.cores.v : (t && t->cores.set ? t->cores.v : 1)},
                {"memory", v.memory.set ? v.memory.v : (t && t->memory.set ? t->memory.v : 1024)},
                {"disk", v.disk.set ? v.disk.v : (t && t->disk.set ? t->disk.v : "")},
                {"tags", json::array()}, {"groups", json::array()},
                {"dns_name", v.dnsName.v}, {"ssh_port", sshPortOf(v.name)},
                {"onboot", v.onboot.set ? v.onboot.v : true},
                {"gateway", s.gateway.v}, {"nameservers", nameserverIps(&v.nameservers)},
                {"environment", s.environment.v}};
      for (const auto& x : v.tags) j["tags"].push_back(x.v);
      for (const auto& x : v.groups) j["groups"].push_back(x.v);
      sectionFields(prov("vm", "proxmox"), j);
      // Per-VM keys over providers.proxmox's (present only when written: no other hash moves).
      if (v.description.set) j["description"] = interpolate(s, v.description.v, v.description.loc, "", &d, &secrets);
      if (v.ciuser.set) j["ciuser"] = v.ciuser.v;
      if (v.searchdomain.set) j["searchdomain"] = v.searchdomain.v;
      if (v.restart.set) j["restart"] = v.restart.v;
      if (v.sshKeysSet) {
        json keys = json::array();
        for (const auto& k : v.sshKeys) keys.push_back(interpolate(s, k.v, k.loc, "", &d, &secrets));
        j["ssh_keys"] = std::move(keys);
      }
      int tier = tierOf(v.tier, 0);
      auto* r = add("vm/" + v.name, "vm", prov("vm", "proxmox"), v.name, j, v.loc, tier);
      if (t) dep(r, "template/" + t->name);
      if (v.tier.set) {
        uint32_t ix = r ? ixOf(r) : ixOf("vm/" + v.name);
        tierMember(tier, ix);
        bindTier(ix, tier);
      }
    }
  }

  void hostsOf(const std::string& name, const SpecLoc& loc, const std::string& address, const std::vector<Str>& groups,
               const Str& tierName, bool isVm) {
    json j = {{"name", name}, {"address", address}, {"ssh_port", sshPortOf(name)}, {"groups", json::array()},
              {"packages", json::array()}, {"services", json::object()}, {"files", json::object()}};
    std::vector<std::string> order = {"all"};
    for (const auto& gname : groups) {
      j["groups"].push_back(gname.v);
      if (gname.v != "all") order.push_back(gname.v);
    }
    std::set<std::string> pk;
    json items = json::object();
    for (const auto& gname : order) {
      const GroupSpec* g = s.group(gname);
      if (!g) continue;
      for (const auto& p : g->packages) {
        auto st = g->packageStates.find(p.v);
        if (pk.insert(p.v).second)
          j["packages"].push_back(st == g->packageStates.end() ? json(p.v) : json{{"name", p.v}, {"state", st->second}});
      }
      mergeHostItems(*g, items);
      for (auto& [k, v] : g->services.items()) j["services"][k] = v;
      for (auto& [path, f] : g->files.items()) {
        json ff = f;
        if (ff.contains("source")) ff["source"] = absPath(s, ff["source"].get<std::string>());
        if (ff.contains("content")) {
          for (const auto& [p2, c] : g->fileContents)
            if (p2 == path) ff["content"] = interpolate(s, c.v, c.loc, "", nullptr, &secrets);
        }
        j["files"][path] = ff;
      }
    }
    for (auto& [k, v] : items.items()) j[k] = v;
    int tier = tierOf(tierName, 0);
    const std::string& hostProvider = prov("host", "ssh");
    auto* r = add("host/" + name, "host", providerCfg(hostProvider) ? hostProvider : "none", name, j, loc, tier);
    if (r && providerCfg(hostProvider)) hostPositions.push_back({ixOf(r), tier, isVm, tierName.set, loc});
    if (isVm) dep(r, "vm/" + name);
    if (tierName.set) {
      uint32_t ix = r ? ixOf(r) : ixOf("host/" + name);
      tierMember(tier, ix);
      bindTier(ix, tier);
    }
  }

  // ---- host items (providers/ssh/host_items.h) -----------------------------------------
  struct HostPosition {
    uint32_t ix;
    int tier;
    bool isVm, tierBound;
    SpecLoc loc;
  };
  std::vector<HostPosition> hostPositions;  // hosts configured over SSH

  // A group's directories, users, ... into the host's merged items (later groups override).
  void mergeHostItems(const GroupSpec& g, json& items) {
    json gi = g.items;
    for (const auto& [ptr, str] : g.itemStrings) {
      json::json_pointer jp(ptr);
      if (gi.contains(jp)) gi[jp] = interpolate(s, str.v, str.loc, "", &d, &secrets);
    }
    for (auto& [k, v] : gi.items()) {
      if (v.is_object())
        for (auto& [n, e] : v.items()) items[k][n] = e;
      else
        items[k] = v;
    }
  }

  // Every item of a host's payload becomes a resource `host/NAME/KIND:KEY` (docs/resources.md);
  // run once every payload is complete (derived files included), before tier edges.
  void finishHashes() {
    noHashThread = true;  // positions move while items are added: hash inline from here on
    if (hashes) {
      auto done = hashes->finish();
      hashes.reset();
      for (const auto& h : done) g->resources[h.ix].hash = hexOf(h.digest);
    }
  }

  void hostItems() {
    finishHashes();
    auto positions = std::move(hostPositions);
    for (const auto& hp : positions) hostItemsOf(hp);
  }

  void hostItemsOf(const HostPosition& hp) {
    const json host = g->resources[hp.ix].spec;  // a copy: adding resources moves the vector
    const std::string name = host.value("name", "");
    const std::string hostId = "host/" + name;
    const SpecLoc& loc = hp.loc;
    json common = {{"host", name}, {"address", host.value("address", "")}, {"ssh_port", host.value("ssh_port", 22)}};
    struct Item {
      std::string id, kind;
      json spec;
      std::vector<std::string> deps;
    };
    std::vector<Item> items;
    auto item = [&](const std::string& kind, const std::string& key, json spec) -> Item& {
      json j = common;
      for (auto& [k, v] : spec.items()) j[k] = v;
      items.push_back({hostId + "/" + kind + (key.empty() ? "" : ":" + key), kind, std::move(j), {}});
      return items.back();
    };
    auto obj = [&](const char* k) { return host.contains(k) && host[k].is_object() ? host[k] : json::object(); };
    std::map<std::string, json> maps;  // held here: items() of a temporary dangles in a range-for
    for (const char* k : {"unix_groups", "users", "directories", "files", "sysctl", "mounts", "timers", "commands"})
      maps[k] = obj(k);
    std::vector<std::string> pkgIds, fileIds, dirIds, userIds;
    std::map<std::string, std::string> groupIds, userIdOf;
    for (const auto& p : host.value("packages", json::array())) {
      json e = p.is_string() ? json{{"name", p}, {"state", "present"}} : p;
      pkgIds.push_back(item("package", e.value("name", ""), e).id);
    }
    for (auto& [n, e] : maps["unix_groups"].items()) {
      json x = e;
      x["name"] = n;
      groupIds[n] = item("group", n, x).id;
    }
    for (auto& [n, e] : maps["users"].items()) {
      json x = e;
      x["name"] = n;
      Item& it = item("user", n, x);
      bool needPackages = false;
      for (const auto& gname : x.value("groups", json::array())) {
        auto gi = groupIds.find(gname.get<std::string>());
        if (gi != groupIds.end()) it.deps.push_back(gi->second);
        else needPackages = true;  // a group a package makes (docker)
      }
      if (needPackages) it.deps.insert(it.deps.end(), pkgIds.begin(), pkgIds.end());
      userIdOf[n] = it.id;
      userIds.push_back(it.id);
    }
    auto ownerDeps = [&](Item& it) {
      if (auto u = userIdOf.find(it.spec.value("owner", "")); u != userIdOf.end()) it.deps.push_back(u->second);
      if (auto gi = groupIds.find(it.spec.value("group", "")); gi != groupIds.end()) it.deps.push_back(gi->second);
    };
    std::map<std::string, std::string> dirOf;
    for (auto& [path, e] : maps["directories"].items()) {
      json x = {{"owner", "root"}, {"group", "root"}, {"mode", "0755"}};
      for (auto& [k, v] : e.items()) x[k] = v;
      x["path"] = path;
      Item& it = item("directory", path, x);
      ownerDeps(it);
      dirOf[path] = it.id;
      dirIds.push_back(it.id);
    }
    auto parentDirs = [&](Item& it, const std::string& path) {
      for (const auto& [dp, did] : dirOf)
        if (did != it.id && path.size() > dp.size() && path.compare(0, dp.size(), dp) == 0 &&
            (dp.back() == '/' || path[dp.size()] == '/'))
          it.deps.push_back(did);
    };
    for (auto& id : dirIds) {
      for (auto& it : items)
        if (it.id == id) parentDirs(it, it.spec.value("path", ""));
    }
    std::map<std::string, std::vector<std::string>> filesNaming;  // service -> file ids
    for (auto& [path, e] : maps["files"].items()) {
      json x = e;
      x["path"] = path;
      Item& it = item("file", path, x);
      ownerDeps(it);
      parentDirs(it, path);
      fileIds.push_back(it.id);
      if (x.contains("on_change") && x["on_change"].is_object())
        for (const char* a : {"restart", "reload"})
          if (x["on_change"].contains(a)) filesNaming[x["on_change"][a].get<std::string>()].push_back(it.id);
      auto slash = path.rfind('/');
      if (path.rfind("/etc/systemd/system/", 0) == 0 && slash != std::string::npos)
        filesNaming[path.substr(slash + 1)].push_back(it.id);
    }
    for (auto& [k, v] : maps["sysctl"].items()) item("sysctl", k, {{"key", k}, {"value", v}});
    if (host.contains("timezone") && host["timezone"].is_string())
      item("timezone", "", {{"timezone", host["timezone"]}});
    for (auto& [path, e] : maps["mounts"].items()) {
      json x = {{"opts", "defaults"}, {"state", "mounted"}};
      for (auto& [k, v] : e.items()) x[k] = v;
      x["path"] = path;
      Item& it = item("mount", path, x);
      it.deps.insert(it.deps.end(), pkgIds.begin(), pkgIds.end());
      parentDirs(it, path);
      if (auto di = dirOf.find(path); di != dirOf.end()) it.deps.push_back(di->second);
    }
    json services = obj("services");
    for (const auto& [svc, files] : filesNaming)
      if (!services.contains(svc) && files.size() > 0) {
        // Named only by on_change (or its unit file): an item that restarts it, nothing more.
        bool named = false;
        for (auto& [path, e] : maps["files"].items())
          if (e.contains("on_change") && e["on_change"].is_object())
            for (const char* a : {"restart", "reload"})
              if (e["on_change"].value(a, "") == svc) named = true;
        if (named) services[svc] = json::object();
      }
    for (auto& [n, e] : services.items()) {
      json x = {{"name", n}};
      if (e.contains("enabled")) x["enabled"] = e["enabled"];
      if (e.contains("state")) x["state"] = e["state"] == "restarted" ? json("started") : e["state"];
      Item& it = item("service", n, x);
      it.deps.insert(it.deps.end(), pkgIds.begin(), pkgIds.end());
      if (auto f = filesNaming.find(n); f != filesNaming.end()) it.deps.insert(it.deps.end(), f->second.begin(), f->second.end());
    }
    for (auto& [n, e] : maps["timers"].items()) {
      json x = e;
      x["name"] = n;
      Item& it = item("timer", n, x);
      if (auto u = userIdOf.find(x.value("user", "")); u != userIdOf.end()) it.deps.push_back(u->second);
    }
    std::vector<std::string> before;  // commands run once everything else of the host is there
    for (const auto& it : items)
      if (it.kind != "command") before.push_back(it.id);
    for (auto& [n, e] : maps["commands"].items()) {
      json x = e;
      x["name"] = n;
      Item& it = item("command", n, x);
      it.deps = before;
    }
    for (auto& it : items) {
      auto* r = add(it.id, it.kind, prov(it.kind, prov("host", "ssh").c_str()), name, std::move(it.spec), loc, hp.tier);
      if (!r) continue;
      uint32_t ix = ixOf(r);
      if (hp.isVm) dep(r, "vm/" + name);
      for (auto& dd : it.deps) dep(r, dd);
      if (hp.tierBound) bindTier(ix, hp.tier);
      dep(&g->resources[hp.ix], it.id, ix);
    }
  }

  void hosts() {
    for (const auto& v : s.vms) hostsOf(v.name, v.loc, v.ip.v, v.groups, v.tier, true);
    for (const auto& h : s.hosts) hostsOf(h.name, h.loc, h.address.v, h.groups, h.tier, false);
  }

  // ---- apps ------------------------------------------------------------------------------
  std::unordered_map<std::string, std::vector<uint32_t>> appContainers;  // app -> container positions

  json dockerCommon(const std::string& host) {
    json j = json::object();
    j["endpoint"] = dockerEndpointCached(host);
    j["environment"] = s.environment.v;
    j["host"] = host;
    return j;
  }

  void app(const AppSpec& a) {
    const std::string& host = a.host.v;
    if (!a.host.set || (!s.vm(host) && !s.host(host))) return;
    int tier = tierOf(a.tier, s.lastTier());
    std::string hostId = "host/" + host;
    const uint32_t hostIx = ixOf(hostId);
    auto labelsFor = [&](const char* kind, const std::string& key) {
      return json{{"com.docker.compose.project", a.name}, {std::string("com.docker.compose.") + kind, key}};
    };
    // Networks: the default one when any container is on it, declared ones when used.
    std::map<std::string, std::string> netDocker;  // key -> docker name
    std::map<std::string, std::string> netId;      // key -> resource id ("" = external)
    netDocker["default"] = a.name + "_default";
    netId["default"] = "network/" + host + "/" + a.name;
    for (const auto& n : a.networks) {
      netDocker[n.key] = !n.name.empty() ? n.name : (n.external ? n.key : a.name + "_" + n.key);
      netId[n.key] = n.external ? "" : "network/" + host + "/" + a.name + "_" + n.key;
    }
    // The network's id ("" = external) and, in `ix`, its position.
    auto ensureNet = [&](const std::string& key, uint32_t& ix) -> std::string {
      const std::string& id = netId[key];
      ix = kNone;
      if (id.empty()) return id;
      if ((ix = ixOf(id)) != kNone) return id;
      const NamedNetwork* decl = nullptr;
      for (const auto& n : a.networks)
        if (n.key == key) decl = &n;
      json j = dockerCommon(host);
      j["name"] = netDocker[key];
      j["driver"] = decl ? decl->driver : "bridge";
      j["app"] = a.name;
      j["labels"] = labelsFor("network", key);
      j["external"] = false;
      if (decl) {  // Compose network options (present only when written: no other hash moves)
        for (auto& [ek, ev] : decl->extra.items()) {
          if (ek == "labels") {
            for (auto& [lk, lv] : ev.items()) j["labels"][lk] = interpolate(s, lv.get<std::string>(), decl->loc, a.name, &d, &secrets);
          } else {
            j[ek] = ev;
          }
        }
      }
      auto* r = add(id, "network", prov("network", "docker"), host, std::move(j), decl ? decl->loc : a.loc, tier);
      dep(r, hostId, hostIx);
      ix = r ? ixOf(r) : ixOf(id);
      bindTier(ix, tier);
      return id;
    };
    std::map<std::string, const NamedVolume*> volDecl;
    for (const auto& v : a.volumes) volDecl[v.key] = &v;
    auto ensureVol = [&](const std::string& key, const SpecLoc& loc, std::string& dockerName, uint32_t& ix) -> std::string {
      ix = kNone;
      auto it = volDecl.find(key);
      const NamedVolume* decl = it == volDecl.end() ? nullptr : it->second;
      if (decl && decl->external) {
        dockerName = decl->name.empty() ? key : decl->name;
        return "";
      }
      dockerName = decl && !decl->name.empty() ? decl->name : a.name + "_" + key;
      std::string id = "volume/" + host + "/" + a.name + "_" + key;
      if ((ix = ixOf(id)) != kNone) return id;
      json j = dockerCommon(host);
      j["name"] = dockerName;
      j["driver"] = decl ? decl->driver : "local";
      j["app"] = a.name;
      j["labels"] = labelsFor("volume", key);
      if (decl)
        for (const auto& [lk, lv] : decl->labels) j["labels"][lk] = interpolate(s, lv, decl->loc, a.name, &d, &secrets);
      j["prune_volumes"] = false;
      if (decl && !decl->driverOpts.empty()) j["driver_opts"] = decl->driverOpts;
      auto* r = add(id, "volume", prov("volume", "docker"), host, std::move(j), decl ? decl->loc : loc, tier);
      dep(r, hostId, hostIx);
      ix = r ? ixOf(r) : ixOf(id);
      bindTier(ix, tier);
      return id;
    };
    std::unordered_map<std::string, const ContainerSpec*> byName;
    for (const auto& c : a.containers) byName.emplace(c.name, &c);
    auto& mine = appContainers[a.name];
    const std::vector<DerivedFile> myFiles = appFiles(s, a);
    for (const auto& c : a.containers) {
      std::string cid = "container/" + a.name + "/" + c.name;
      std::string image = str(c.image, a.name);
      // Image. A `build:` one is tagged by its context hash: a changed context is a new
      // image resource (built), an unchanged one is present.
      std::string builtAs;
      if (c.build.set) {
        builtAs = image;
        std::string repo = "tend-build/" + a.name + "-" + c.name;
        for (auto& ch : repo) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        image = repo + ":" + c.build.contextHash.substr(0, 16);
      }
      std::string pull = "missing";
      if (c.pullPolicy.set) pull = c.pullPolicy.v == "if_not_present" ? "missing" : c.pullPolicy.v;
      if (c.build.set) pull = "missing";
      std::string imageId = "image/" + host + "/" + image;
      uint32_t imageIx = ixOf(imageId);
      if (imageIx == kNone) {
        json j = dockerCommon(host);
        j["ref"] = image;
        j["pull"] = pull;
        if (c.build.set) {
          const BuildSpec& b = c.build;
          json bj = {{"context", b.context}, {"dockerfile", b.dockerfile}, {"hash", b.contextHash}};
          if (!b.dockerfileInline.empty()) bj["dockerfile_inline"] = b.dockerfileInline;
          if (!b.target.empty()) bj["target"] = b.target;
          if (!b.network.empty()) bj["network"] = b.network;
          if (!b.args.empty()) {
            json args = json::object();
            for (const auto& [k, v] : b.args) args[k] = interpolate(s, v, b.loc, a.name, &d, &secrets);
            bj["args"] = args;
          }
          if (!b.labels.empty()) bj["labels"] = b.labels;
          json tags = json::array();
          if (!builtAs.empty()) tags.push_back(builtAs);
          for (const auto& t : b.tags) tags.push_back(t);
          if (!tags.empty()) bj["tags"] = tags;
          if (!b.cacheFrom.empty()) bj["cache_from"] = b.cacheFrom;
          if (!b.extraHosts.empty()) bj["extra_hosts"] = b.extraHosts;
          if (b.noCache) bj["no_cache"] = true;
          if (b.pull) bj["pull"] = true;
          if (b.shmSize > 0) bj["shm_size"] = b.shmSize;
          j["build"] = bj;
        }
        auto* r = add(imageId, "image", prov("image", "docker"), host, std::move(j), c.image.loc, tier);
        dep(r, hostId, hostIx);
        if (r) imageIx = ixOf(r);
      }
      // The payload is built in key order straight into the object's map (an append with a
      // hint costs one key comparison), and fields holding their default are left out: the
      // hash fills them back in (payloadDefaults), so no hash moves.
      const PayloadDefaults& defs = containerDefaults;
      json::object_t o;
      size_t defAt = 0;
      auto put = [&](std::string_view k, json v) {
        while (defAt < defs.size() && std::string_view(defs[defAt].key) < k) ++defAt;
        if (defAt < defs.size() && defs[defAt].key == k && isDefaultValue(v, defs[defAt].value)) return;
        o.emplace_hint(o.end(), std::string(k), std::move(v));
      };
      // Lists and mappings are put through these: an empty one whose default is empty is left
      // out before a json value is made for it (even an empty json array or object is a heap
      // allocation, and most of a container's lists are empty).
      auto emptyIsDefault = [&](std::string_view k) {
        while (defAt < defs.size() && std::string_view(defs[defAt].key) < k) ++defAt;
        if (defAt == defs.size() || defs[defAt].key != k) return false;
        const json& dv = defs[defAt].value;
        return (dv.is_array() || dv.is_object()) && dv.empty();
      };
      auto putArray = [&](std::string_view k, json::array_t v) {
        if (v.empty() && emptyIsDefault(k)) return;
        put(k, json(std::move(v)));
      };
      auto putObject = [&](std::string_view k, json::object_t v) {
        if (v.empty() && emptyIsDefault(k)) return;
        put(k, json(std::move(v)));
      };
      auto list = [&](const std::vector<Str>& v) {
        json::array_t arr;
        arr.reserve(v.size());
        for (const auto& x : v) arr.emplace_back(str(x, a.name));
        return arr;
      };
      auto putList = [&](std::string_view k, const std::vector<Str>& v) { putArray(k, list(v)); };
      auto cmd = [&](const std::optional<std::vector<Str>>& v) -> json {
        if (!v) return nullptr;
        return list(*v);
      };
      std::vector<std::pair<std::string, uint32_t>> deps;  // id, position (kNone: not known yet)
      deps.emplace_back(imageId, imageIx);
      // Volumes first: they may add volume resources (declaration order of resources kept).
      json::array_t vols;
      vols.reserve(c.volumes.size());
      for (const auto& m : c.volumes) {
        std::string src = str(m.source, a.name);
        if (m.type == "bind") {
          if (!src.empty() && src[0] != '/' && src[0] != '~') src = std::filesystem::path(joinPath(c.baseDir, src)).lexically_normal().string();
        } else if (m.type == "volume" && !src.empty()) {
          std::string dockerName;
          uint32_t vix = kNone;
          std::string vid = ensureVol(src, m.loc, dockerName, vix);
          if (!vid.empty()) deps.emplace_back(std::move(vid), vix);
          src = std::move(dockerName);
        }
        json::object_t v;
        if (!m.options.empty()) v.emplace_hint(v.end(), "options", m.options);
        v.emplace_hint(v.end(), "read_only", m.readOnly);
        v.emplace_hint(v.end(), "source", std::move(src));
        v.emplace_hint(v.end(), "target", m.target);
        if (!m.tmpfsOptions.empty()) v.emplace_hint(v.end(), "tmpfs", m.tmpfsOptions);
        v.emplace_hint(v.end(), "type", m.type);
        vols.push_back(std::move(v));
      }
      json::object_t nets;
      if (c.networkMode.v.empty()) {
        auto attach = [&](const std::string& key, const std::vector<std::string>& al) {
          auto nd = netDocker.find(key);
          if (nd == netDocker.end()) return;
          uint32_t nix = kNone;
          std::string nid = ensureNet(key, nix);
          if (!nid.empty()) deps.emplace_back(std::move(nid), nix);
          json aliases = json::array({c.name});
          for (const auto& x : al)
            if (x != c.name) aliases.push_back(x);
          json::object_t cfg;
          cfg.emplace("aliases", std::move(aliases));
          auto ep = c.networkEndpoint.find(key);
          if (ep != c.networkEndpoint.end())
            for (auto& [ek, ev] : ep->second.items()) cfg.emplace(ek, ev);
          nets[nd->second] = std::move(cfg);
        };
        if (c.networksSet)
          for (const auto& [n, al] : c.networks) attach(n.v, al);
        else
          attach("default", {});
      }
      // A sibling service's Docker container name (network_mode/ipc/pid/volumes_from/links).
      auto dockerNameOf = [&](const std::string& svc) {
        auto it = byName.find(svc);
        return it != byName.end() ? (it->second->containerName.set ? str(it->second->containerName, a.name) : a.name + "-" + svc) : svc;
      };
      std::string networkMode = c.networkMode.v;
      if (c.networkMode.v.rfind("service:", 0) == 0) {
        std::string svc = c.networkMode.v.substr(8);
        networkMode = "container:" + dockerNameOf(svc);
        deps.emplace_back("container/" + a.name + "/" + svc, kNone);
      }
      // Engine API fields of the remaining Compose keys, with service references resolved.
      json engine = c.engine.is_object() ? c.engine : json::object();
      {
        std::function<void(json&)> interp = [&](json& j) {
          if (j.is_string()) j = interpolate(s, j.get<std::string>(), c.loc, a.name, &d, &secrets);
          else if (j.is_structured())
            for (auto& x : j) interp(x);
        };
        interp(engine);
        auto serviceMode = [&](const Str& v, const char* api) {
          if (!v.set) return;
          std::string m = str(v, a.name);
          if (m.rfind("service:", 0) == 0) {
            std::string svc = m.substr(8);
            m = "container:" + dockerNameOf(svc);
            deps.emplace_back("container/" + a.name + "/" + svc, kNone);
          }
          engine["host_config"][api] = m;
        };
        serviceMode(c.ipc, "IpcMode");
        serviceMode(c.pid, "PidMode");
        if (!c.volumesFrom.empty()) {
          json vf = json::array();
          for (const auto& x : c.volumesFrom) {
            std::string v = str(x, a.name);
            if (v.rfind("container:", 0) == 0) {
              vf.push_back(v.substr(10));
              continue;
            }
            if (v.rfind("service:", 0) == 0) v = v.substr(8);
            auto colon = v.find(':');
            std::string svc = v.substr(0, colon);
            vf.push_back(dockerNameOf(svc) + (colon == std::string::npos ? "" : v.substr(colon)));
            if (byName.count(svc)) deps.emplace_back("container/" + a.name + "/" + svc, kNone);
          }
          engine["host_config"]["VolumesFrom"] = vf;
        }
        if (!c.links.empty()) {
          json ln = engine["host_config"].contains("Links") ? engine["host_config"]["Links"] : json::array();
          for (const auto& x : c.links) {
            std::string v = str(x, a.name);
            auto colon = v.find(':');
            std::string svc = v.substr(0, colon), alias = colon == std::string::npos ? svc : v.substr(colon + 1);
            ln.push_back(dockerNameOf(svc) + ":" + alias);
            if (byName.count(svc)) deps.emplace_back("container/" + a.name + "/" + svc, kNone);
          }
          engine["host_config"]["Links"] = ln;
        }
      }
      json::object_t dependsOn;
      for (const auto& dpn : c.dependsOn) {
        auto it = byName.find(dpn.service.v);
        if (it == byName.end()) continue;
        std::string cond = dpn.condition;
        if (cond.empty())
          cond = it->second->healthcheck && !(it->second->healthcheck->test.size() == 1 && it->second->healthcheck->test[0] == "NONE")
                     ? "service_healthy"
                     : "service_started";
        std::string did = "container/" + a.name + "/" + dpn.service.v;
        json::object_t e;
        e.emplace_hint(e.end(), "condition", std::move(cond));
        e.emplace_hint(e.end(), "id", did);
        dependsOn[dpn.service.v] = std::move(e);
        deps.emplace_back(std::move(did), kNone);
      }
      // A one-shot (migration, init job) when a sibling waits for it to exit 0. Set only when
      // true so the payload (and hash) of every other container stays as it was.
      bool oneShot = false;
      for (const auto& oc : a.containers)
        for (const auto& dpn : oc.dependsOn)
          if (dpn.service.v == c.name && dpn.condition == "service_completed_successfully") oneShot = true;

      // Keys in std::map (byte) order.
      put("app", a.name);
      putList("cap_add", c.capAdd);
      putList("cap_drop", c.capDrop);
      put("command", cmd(c.command));
      put("cpus", c.cpus);
      putObject("depends_on", std::move(dependsOn));
      putList("devices", c.devices);
      putList("dns", c.dns);
      put("endpoint", dockerEndpointCached(host));
      if (!engine.empty()) put("engine", std::move(engine));  // absent when empty: no hash moves
      put("entrypoint", cmd(c.entrypoint));
      {
        json::object_t env;
        for (const auto& [k, v] : c.environment) env[k] = str(v, a.name);  // later keys win
        putObject("environment", std::move(env));
      }
      putList("expose", c.expose);
      putList("extra_hosts", c.extraHosts);
      {
        // An app's own files (`files:`) that this container mounts: their content hash, so that
        // a changed file recreates exactly the containers that see it.
        json::object_t fh;
        for (const auto& f : myFiles)
          for (const auto& m : c.volumes) {
            if (m.type != "bind") continue;
            std::string src = str(m.source, a.name);
            if (f.path == src || (f.path.size() > src.size() && f.path.compare(0, src.size(), src) == 0 && f.path[src.size()] == '/'))
              fh[f.path] = fileHash(f.content);
          }
        if (!fh.empty()) put("file_hashes", json(std::move(fh)));
      }
      {
        // Compose secrets and configs: where each goes and where its value comes from. A
        // secret's value is never here: the Docker provider reads it when it creates the
        // container (docs/resources.md).
        json::array_t files;
        std::set<std::string> targets;
        for (int secret = 1; secret >= 0; --secret) {
          const auto& refs = secret ? c.secrets : c.configs;
          const auto& objs = secret ? a.secrets : a.configs;
          const char* what = secret ? "secret" : "config";
          for (const auto& ref : refs) {
            if (!ref.source.set || ref.source.v.empty()) continue;
            auto def = std::find_if(objs.begin(), objs.end(), [&](const FileObject& f) { return f.key == ref.source.v; });
            if (def == objs.end()) {
              d.push_back({Severity::Error, ref.loc,
                           std::string(what) + " '" + ref.source.v + "' of container '" + c.name +
                               "' is not defined in the top-level '" + what + "s'"});
              continue;
            }
            std::string target = ref.target.set ? ref.target.v : ref.source.v;
            if (target.empty() || target[0] != '/') target = (secret ? "/run/secrets/" : "/") + target;
            if (!targets.insert(target).second) {
              d.push_back({Severity::Error, ref.loc,
                           "container '" + c.name + "' gets two secrets or configs at '" + target + "'"});
              continue;
            }
            json::object_t e;
            if (def->content.set) e.emplace("content", interpolate(s, def->content.v, def->content.loc, a.name, &d, &secrets));
            if (def->environment.set) {
              e.emplace("env", def->environment.v);
              if (!def->dotenv.empty()) e.emplace("dotenv", def->dotenv);
            }
            if (!def->file.empty()) e.emplace("file", def->file);
            if (ref.gid.set) e.emplace("gid", ref.gid.v);
            e.emplace("kind", what);
            e.emplace("mode", ref.mode >= 0 ? ref.mode : 0444);
            e.emplace("name", def->key);
            e.emplace("target", std::move(target));
            if (ref.uid.set) e.emplace("uid", ref.uid.v);
            files.push_back(std::move(e));
          }
        }
        if (!files.empty()) put("files", json(std::move(files)));
      }
      putList("group_add", c.groupAdd);
      if (c.healthcheck) {
        const auto& h = *c.healthcheck;
        json test = json::array();
        for (const auto& t : h.test) test.push_back(interpolate(s, t, h.testLoc, a.name, &d, &secrets));
        json::object_t hc;
        hc.emplace_hint(hc.end(), "interval_s", h.intervalS);
        hc.emplace_hint(hc.end(), "retries", h.retries);
        hc.emplace_hint(hc.end(), "start_period_s", h.startPeriodS);
        hc.emplace_hint(hc.end(), "test", std::move(test));
        hc.emplace_hint(hc.end(), "timeout_s", h.timeoutS);
        put("healthcheck", std::move(hc));
      } else {
        put("healthcheck", nullptr);
      }
      put("host", host);
      put("hostname", str(c.hostname, a.name));
      put("image", image);
      put("init", c.init);
      {
        json::object_t labels;
        labels.emplace("com.docker.compose.project", a.name);
        labels.emplace("com.docker.compose.service", c.name);
        for (const auto& [k, v] : c.labels) labels[k] = str(v, a.name);
        put("labels", std::move(labels));
      }
      put("logging", c.logging ? *c.logging : json(nullptr));
      put("mem_limit", c.memLimit);
      put("mem_reservation", c.memReservation);
      put("name", c.containerName.set ? str(c.containerName, a.name) : a.name + "-" + c.name);
      put("network_mode", std::move(networkMode));
      putObject("networks", std::move(nets));
      if (oneShot) put("one_shot", true);
      {
        json::array_t ports;
        ports.reserve(c.ports.size());
        for (const auto& p : c.ports) {
          json::object_t po;
          po.emplace_hint(po.end(), "host_ip", p.hostIp);
          po.emplace_hint(po.end(), "protocol", p.protocol);
          po.emplace_hint(po.end(), "published", p.published);
          po.emplace_hint(po.end(), "target", p.target);
          ports.push_back(std::move(po));
        }
        putArray("ports", std::move(ports));
      }
      put("privileged", c.privileged);
      put("read_only", c.readOnly);
      put("restart", c.restart.set ? c.restart.v : "no");
      putList("security_opt", c.securityOpt);
      put("service", c.name);
      put("shm_size", c.shmSize);
      put("stdin_open", c.stdinOpen);
      put("stop_grace_period_s", c.stopGracePeriodS);
      put("stop_signal", c.stopSignal.v);
      if (!c.sysctls.empty() || !emptyIsDefault("sysctls")) put("sysctls", c.sysctls);
      putList("tmpfs", c.tmpfs);
      put("tty", c.tty);
      put("user", str(c.user, a.name));
      putArray("volumes", std::move(vols));
      put("working_dir", str(c.workingDir, a.name));
      auto* r = add(cid, "container", prov("container", "docker"), host, json(std::move(o)), c.loc, tier);
      if (!r) continue;
      {
        auto& fl = r->fieldLocs;
        if (c.privileged) fl.emplace_back("privileged", c.privilegedLoc);
        if (!c.networkMode.v.empty()) fl.emplace_back("network_mode", c.networkMode.loc);
        for (size_t i = 0; i < c.capAdd.size(); ++i) fl.emplace_back("cap_add/" + std::to_string(i), c.capAdd[i].loc);
        for (size_t i = 0; i < c.devices.size(); ++i) fl.emplace_back("devices/" + std::to_string(i), c.devices[i].loc);
        for (size_t i = 0; i < c.volumes.size(); ++i)
          if (c.volumes[i].type == "bind") fl.emplace_back("volumes/" + std::to_string(i), c.volumes[i].loc);
      }
      for (auto& [x, ix] : deps) dep(r, std::move(x), ix);
      uint32_t cix = ixOf(r);
      tierMember(tier, cix);
      bindTier(cix, tier);
      mine.push_back(cix);
    }
  }

  void appDeps() {
    for (const auto& a : s.apps) {
      auto& mine = appContainers[a.name];
      for (const auto& dp : a.dependsOn) {
        std::vector<uint32_t> targets;
        if (dp.v.rfind("app/", 0) == 0) {
          auto it = appContainers.find(dp.v.substr(4));
          if (it != appContainers.end()) targets = it->second;
        } else if (dp.v.find('/') != std::string::npos) {
          uint32_t t = ixOf(dp.v);
          if (t == kNone) {
            if (dp.v.rfind("vm/", 0) != 0 && dp.v.rfind("host/", 0) != 0)
              d.push_back({Severity::Error, dp.loc, "app '" + a.name + "' depends on unknown resource '" + dp.v + "'"});
            continue;
          }
          targets.push_back(t);
        }
        for (uint32_t cix : mine)
          for (uint32_t t : targets) dep(&g->resources[cix], g->resources[t].id, t);
      }
    }
  }

  // ---- DNS -------------------------------------------------------------------------------
  using DepList = std::vector<std::pair<std::string, uint32_t>>;  // id, position (kNone: by id)
  struct Rec {
    std::string name, type, value;
    json ttl;
    bool operator<(const Rec& o) const { return std::tie(name, type, value) < std::tie(o.name, o.type, o.value); }
    bool operator==(const Rec& o) const { return name == o.name && type == o.type && value == o.value; }
  };

  std::string domainOf(const std::string& fqdn) const { return spec::domainOf(s, fqdn); }
  static std::string rel(const std::string& fqdn, const std::string& zone) {
    if (fqdn == zone) return "@";
    return fqdn.substr(0, fqdn.size() - zone.size() - 1);
  }
  static std::string absName(const std::string& v, const std::string& zone) {
    if (!v.empty() && v.back() == '.') return v;
    if (v == "@") return zone + ".";
    if (v.find('.') == std::string::npos) return v + "." + zone + ".";
    return v + ".";
  }

  void dns() {
    auto* b = providerCfg(prov("zone", "bind9"));
    if (!b || (s.dns.domains.empty() && s.dns.reverseZones.empty())) return;
    std::string server = b->value("server", "");
    if (!s.vm(server) && !s.host(server)) return;
    std::string serverIp = s.addressOf(server);
    // How named's machine is reached (its provider's registration: ssh:// or "" for here).
    const std::string& endpoint = endpointOf(prov("zone", "bind9"), server);
    std::string confDir = absPath(s, b->value("conf_dir", std::string("/etc/bind")));
    int64_t ttl = s.dns.ttl.set ? s.dns.ttl.v : 300;
    int last = s.lastTier();
    struct View {
      std::string name;
      std::string address;
      json match;
    };
    std::vector<View> views;
    for (const auto& v : s.dns.views) {
      json m = json::array();
      for (const auto& x : v.matchClients) m.push_back(x.v);
      views.push_back({v.name, v.address.v, m});
    }
    if (views.empty()) views.push_back({"internal", "", json::array({"any"})});
    std::string rpIp = s.dns.reverseProxy.set ? s.addressOf(s.dns.reverseProxy.v) : "";
    std::string rpId = s.dns.reverseProxy.set ? (s.vm(s.dns.reverseProxy.v) ? "vm/" : "host/") + s.dns.reverseProxy.v : "";
    std::vector<std::string> zoneIds;
    json viewList = json::array();
    for (const auto& view : views) {
      bool internal = view.address.empty();
      json zonesInView = json::array();
      for (const auto& dm : s.dns.domains) {
        const std::string& zone = dm.v;
        std::vector<Rec> recs;
        DepList deps = {{"host/" + server, kNone}};
        std::string ns = "ns." + zone + ".";
        recs.push_back({"@", "NS", ns, nullptr});
        std::string nsAddr = internal ? serverIp : view.address;
        if (isIpv4(nsAddr)) recs.push_back({"ns", "A", nsAddr, nullptr});
        else if (isIp(nsAddr)) recs.push_back({"ns", "AAAA", nsAddr, nullptr});
        auto addA = [&](const std::string& fqdn, const std::string& addr) {
          if (isIpv4(addr)) recs.push_back({rel(fqdn, zone), "A", addr, nullptr});
          else if (isIp(addr)) recs.push_back({rel(fqdn, zone), "AAAA", addr, nullptr});
          else if (!addr.empty()) recs.push_back({rel(fqdn, zone), "CNAME", absName(addr, zone), nullptr});
        };
        if (internal) {
          for (const auto& v : s.vms)
            if (v.dnsName.set && domainOf(v.dnsName.v) == zone) {
              addA(v.dnsName.v, v.ip.v);
              deps.emplace_back("vm/" + v.name, kNone);
            }
          for (const auto& h : s.hosts)
            if (h.dnsName.set && domainOf(h.dnsName.v) == zone) addA(h.dnsName.v, h.address.v);
        }
        auto entry = [&](const ServiceEntry& e, const std::string& backendHost, const std::string& app) {
          if (!e.enabled || e.domain.v != zone) return;
          std::string fqdn = e.name.v == "@" ? zone : e.name.v + "." + zone;
          std::string addr;
          if (internal) {
            if (e.dns == "external") return;
            addr = e.proxied ? rpIp : backendHost;
            if (e.proxied && !rpId.empty()) deps.emplace_back(rpId, kNone);
          } else {
            bool include = e.dns != "internal";
            if (!include) return;
            addr = view.address;
          }
          addA(fqdn, addr);
          if (!app.empty()) {
            auto it = appContainers.find(app);
            if (it != appContainers.end())
              for (uint32_t cix : it->second) deps.emplace_back(g->resources[cix].id, cix);
          }
        };
        for (const auto& e : s.services) {
          std::string b2 = interpolate(s, e.backend.v, e.backend.loc, "", nullptr);
          std::string hostPart = b2.substr(0, b2.rfind(':'));
          if (!hostPart.empty() && hostPart[0] == '[') hostPart = hostPart.substr(1, hostPart.size() - 2);
          std::string addr = isIp(hostPart) ? hostPart : s.addressOf(hostPart);
          if (!isIp(hostPart) && s.vm(hostPart)) deps.emplace_back("vm/" + hostPart, kNone);
          entry(e, addr, "");
        }
        for (const auto& a : s.apps)
          for (const auto& e : a.expose) entry(e, s.addressOf(a.host.v), a.name);
        for (const auto& r : s.dns.records) {
          if (r.domain.v != zone) continue;
          if (r.view.set ? r.view.v != view.name : false) continue;
          std::string val = interpolate(s, r.value.v, r.value.loc, "", nullptr, &secrets);
          if ((r.type.v == "A" || r.type.v == "AAAA") && !isIp(val)) val = s.addressOf(val);
          if (r.type.v == "CNAME" || r.type.v == "NS" || r.type.v == "PTR") val = absName(val, zone);
          if (r.type.v == "MX" || r.type.v == "SRV") {
            auto sp = val.rfind(' ');
            if (sp != std::string::npos) val = val.substr(0, sp + 1) + absName(val.substr(sp + 1), zone);
          }
          std::string name = r.name.v == "@" ? "@" : r.name.v;
          if (name != "@" && name.size() > zone.size() + 1 && name.compare(name.size() - zone.size() - 1, std::string::npos, "." + zone) == 0)
            name = rel(name, zone);
          recs.push_back({name, r.type.v, val, r.ttl.set ? json(r.ttl.v) : json(nullptr)});
        }
        std::string zid = "zone/" + zone + "@" + view.name;
        addZone(zid, zone, view.name, server, confDir, false, ttl, ns, "hostmaster." + zone + ".", recs, deps, last);
        zoneIds.push_back(zid);
        zonesInView.push_back(zone);
      }
      if (internal && !s.dns.domains.empty()) {
        std::string ns = "ns." + s.dns.domains.front().v + ".";
        for (const auto& rz : s.dns.reverseZones) {
          std::vector<Rec> recs = {{"@", "NS", ns, nullptr}};
          DepList deps = {{"host/" + server, kNone}};
          auto ptr = [&](const std::string& ip, const std::string& name, const std::string& depId) {
            uint32_t u = 0;
            if (!ipv4ToU32(ip, u)) return;
            std::string rev = std::to_string(u & 255) + "." + std::to_string((u >> 8) & 255) + "." +
                              std::to_string((u >> 16) & 255) + "." + std::to_string(u >> 24) + ".in-addr.arpa";
            if (rev.size() <= rz.v.size() + 1 || rev.compare(rev.size() - rz.v.size() - 1, std::string::npos, "." + rz.v) != 0)
              return;
            recs.push_back({rel(rev, rz.v), "PTR", absName(name, rz.v), nullptr});
            if (!depId.empty()) deps.emplace_back(depId, kNone);
          };
          for (const auto& v : s.vms)
            if (v.dnsName.set) ptr(v.ip.v, v.dnsName.v + ".", "vm/" + v.name);
          for (const auto& h : s.hosts)
            if (h.dnsName.set) ptr(h.address.v, h.dnsName.v + ".", "");
          std::string zid = "zone/" + rz.v + "@" + view.name;
          addZone(zid, rz.v, view.name, server, confDir, true, ttl, ns, "hostmaster." + s.dns.domains.front().v + ".", recs, deps, last);
          zoneIds.push_back(zid);
          zonesInView.push_back(rz.v);
        }
      }
      viewList.push_back({{"name", view.name}, {"match_clients", view.match}, {"recursion", internal}, {"zones", zonesInView}});
    }
    json rndc = {{"server", "127.0.0.1"}, {"port", 953}, {"key_file", confDir + "/rndc.key"}};
    if (b->contains("rndc")) {
      const json& r = (*b)["rndc"];
      if (r.contains("server")) rndc["server"] = r["server"];
      if (r.contains("port")) rndc["port"] = r["port"];
      if (r.contains("key_file")) rndc["key_file"] = absPath(s, r["key_file"].get<std::string>());
    }
    auto strs = [](const std::vector<Str>& v) {
      json a = json::array();
      for (const auto& x : v) a.push_back(x.v);
      return a;
    };
    json acls = json::object();
    if (!s.dns.trusted.empty()) acls["trusted"] = strs(s.dns.trusted);
    json sec = json::array();
    for (const auto& z : s.dns.secondaryZones) sec.push_back({{"name", z.name.v}, {"primaries", strs(z.primaries)}});
    json j = {{"server", server}, {"conf_dir", confDir}, {"rndc", rndc}, {"reload", b->value("reload", std::string("rndc"))},
              {"acls", acls}, {"forwarders", strs(s.dns.forwarders)}, {"transfer_clients", strs(s.dns.transferClients)},
              {"views", viewList}, {"secondary_zones", sec}};
    if (!endpoint.empty()) j["endpoint"] = endpoint;
    if (!s.dns.forwardZones.empty()) {
      json fz = json::array();
      for (const auto& f : s.dns.forwardZones) fz.push_back({{"name", f.name.v}, {"forwarders", strs(f.forwarders)}});
      j["forward_zones"] = fz;
    }
    auto* r = add("dnsconf/" + server, "dnsconf", prov("dnsconf", "bind9"), server, j, s.dns.loc, last);
    for (const auto& z : zoneIds) dep(r, z);
    dep(r, "host/" + server);
  }

  void addZone(const std::string& id, const std::string& zone, const std::string& view, const std::string& server,
               const std::string& confDir, bool reverse, int64_t ttl, const std::string& mname, const std::string& rname,
               std::vector<Rec>& recs, DepList& deps, int tier) {
    std::stable_sort(recs.begin(), recs.end());
    recs.erase(std::unique(recs.begin(), recs.end()), recs.end());
    json rr = json::array();
    for (const auto& r : recs) rr.push_back({{"name", r.name}, {"type", r.type}, {"value", r.value}, {"ttl", r.ttl}});
    // Per-zone settings (dns.zones.Z) over dns.soa over the defaults.
    const DnsZoneOpts* zo = nullptr;
    for (const auto& z : s.dns.zones)
      if (z.name.v == zone) zo = &z;
    auto pick = [&](Val<int64_t> DnsSoa::*f, int64_t dflt) -> int64_t {
      if (zo && (zo->soa.*f).set) return (zo->soa.*f).v;
      if ((s.dns.soa.*f).set) return (s.dns.soa.*f).v;
      return dflt;
    };
    std::string rn = zo && zo->soa.rname.set ? zo->soa.rname.v : s.dns.soa.rname.set ? s.dns.soa.rname.v : rname;
    // A bare local part ("admin") is a mailbox in the zone itself (admin.<zone>.).
    if (rn != rname && rn.find('.') == std::string::npos && rn.find('@') == std::string::npos)
      rn += "." + (reverse && !s.dns.domains.empty() ? s.dns.domains.front().v : zone) + ".";
    json j = {{"zone", zone}, {"view", view}, {"server", server}, {"conf_dir", confDir}, {"reverse", reverse},
              {"ttl", zo && zo->ttl.set ? zo->ttl.v : ttl},
              {"soa", {{"mname", mname}, {"rname", rn}, {"refresh", pick(&DnsSoa::refresh, 3600)},
                       {"retry", pick(&DnsSoa::retry, 600)}, {"expire", pick(&DnsSoa::expire, 604800)},
                       {"minimum", pick(&DnsSoa::minimum, 300)}}},
              {"records", rr}};
    if (const auto& ep = endpointOf(prov("zone", "bind9"), server); !ep.empty()) j["endpoint"] = ep;
    auto* r = add(id, "zone", prov("zone", "bind9"), server, j, s.dns.loc, tier);
    for (auto& [x, ix] : deps) dep(r, std::move(x), ix);
  }

  // ---- derived files (derived.h) -----------------------------------------------------------
  // The Caddyfile, Homepage files, file_sd targets, Grafana provisioning and apps' own files go
  // into their host's `files` like a group's files, so the host provider plans, diffs and
  // drift-corrects them. They span apps, so they are added once every app is in (and hashed).
  void derivedFiles() {
    std::set<uint32_t> touched;
    std::vector<DerivedFile> files = deriveFiles(s, &secrets);
    mountedDerivedFiles(files);
    for (auto& f : files) {
      uint32_t ix = ixOf("host/" + f.host);
      if (ix == kNone) continue;
      json ff = {{"content", std::move(f.content)}, {"mode", f.mode}, {"owner", f.owner}, {"group", f.group}};
      if (!f.onChange.empty()) ff["on_change"] = f.onChange;
      g->resources[ix].spec["files"][f.path] = std::move(ff);
      touched.insert(ix);
    }
    for (uint32_t ix : touched) g->resources[ix].hash = jsonSha256Hex(g->resources[ix].spec, noDefaults);
  }

  // A file's value in a container's `file_hashes`: its content hash, then each secret its text
  // names (`${secret:N}` stays symbolic until delivery), so that the Docker provider's keyed
  // spec hash covers those secrets' values too: a rotated token recreates the container.
  static std::string fileHash(const std::string& content) {
    std::string h = sha256Hex(content);
    std::set<std::string> names;
    for (size_t p = content.find("${secret:"); p != std::string::npos; p = content.find("${secret:", p + 9)) {
      size_t e = content.find('}', p + 9);
      if (e == std::string::npos) break;
      names.insert(content.substr(p, e + 1 - p));
    }
    for (const auto& n : names) h += " " + n;
    return h;
  }

  // Derived files that a container on the same machine bind-mounts, and that it would not
  // see change otherwise: tend replaces a file by rename, and a single-file bind mount keeps
  // showing the old inode until the container is created again. So the file's hash joins the
  // container's `file_hashes` and a change recreates exactly those containers:
  //   - Caddyfile, Homepage files, named.conf.options: mounted as the file itself. Through a
  //     directory mount the new file is seen at once (Caddy's --watch, Homepage re-reads it);
  //   - Grafana's datasource provisioning: mounted as the file or a directory above it
  //     (Grafana reads provisioning when it starts);
  //   - file_sd targets: never (Prometheus re-reads them; no restart).
  // An app's own `files:` were matched when its containers were built (file or directory).
  void mountedDerivedFiles(const std::vector<DerivedFile>& files) {
    std::unordered_map<std::string, std::vector<const DerivedFile*>> byHost;
    for (const auto& f : files)
      if (f.kind != "app_file" && f.kind != "file_sd") byHost[f.host].push_back(&f);
    if (byHost.empty()) return;
    for (auto& r : g->resources) {
      if (r.kind != "container" || !r.spec.is_object()) continue;
      auto h = byHost.find(r.host);
      if (h == byHost.end()) continue;
      auto vols = r.spec.find("volumes");
      if (vols == r.spec.end() || !vols->is_array()) continue;
      bool changed = false;
      for (const DerivedFile* f : h->second)
        for (const auto& v : *vols) {
          if (v.value("type", "") != "bind") continue;
          const std::string src = v.value("source", "");
          bool under = f->path.size() > src.size() && f->path.compare(0, src.size(), src) == 0 &&
                       (f->path[src.size()] == '/' || (!src.empty() && src.back() == '/'));
          if (!(f->path == src || (under && f->kind == "grafana"))) continue;
          json& fh = r.spec["file_hashes"];
          if (!fh.is_object()) fh = json::object();
          if (!fh.contains(f->path)) {
            fh[f->path] = fileHash(f->content);
            changed = true;
          }
        }
      if (changed) r.hash = jsonSha256Hex(r.spec, containerDefaults);
    }
  }

  // ---- tiers, sort -----------------------------------------------------------------------
  void tierEdges() {
    if (tierMembers.empty()) return;
    for (auto& [i, tier] : tierBound) {
      int prev = tier - 1;
      while (prev >= 0 && (static_cast<size_t>(prev) >= tierMembers.size() || tierMembers[prev].empty())) --prev;
      if (prev < 0) continue;
      auto* r = &g->resources[i];
      for (uint32_t m : tierMembers[prev]) dep(r, g->resources[m].id, m);
    }
  }

  bool sortTopo() {
    auto& rs = g->resources;
    size_t n = rs.size();
    // Every dependency's target position: known ones from dep(), the rest looked up by id.
    std::vector<uint32_t> off(n + 1, 0);
    for (size_t i = 0; i < n; ++i) off[i + 1] = off[i] + static_cast<uint32_t>(rs[i].dependsOn.size());
    std::vector<uint32_t> target(off[n], kNone);
    for (const auto& k : knownDeps) target[off[k.from] + k.pos] = k.to;
    knownDeps = {};
    // Adjacency in one array (adjOff/adjList): no vector per resource.
    std::vector<uint32_t> adjOff(n + 1, 0);
    std::vector<uint32_t> adjList;
    adjList.reserve(off[n]);
    std::vector<uint32_t> seenAt(n, kNone);
    for (size_t i = 0; i < n; ++i) {
      auto& deps = rs[i].dependsOn;
      size_t w = 0;
      for (size_t p = 0; p < deps.size(); ++p) {
        uint32_t t = target[off[i] + p];
        if (t == kNone) t = ixOf(deps[p]);
        if (t == kNone) continue;  // references to things not expanded (validation reported them)
        if (seenAt[t] == i || t == i) continue;
        seenAt[t] = static_cast<uint32_t>(i);
        adjList.push_back(t);
        if (w != p) deps[w] = std::move(deps[p]);
        ++w;
      }
      deps.resize(w);
      if (deps.capacity() != w) deps.shrink_to_fit();  // no growth slack kept in 10^4 resources
      adjOff[i + 1] = static_cast<uint32_t>(adjList.size());
    }
    target = {};
    off = {};
    auto adjSize = [&](size_t v) { return adjOff[v + 1] - adjOff[v]; };
    std::vector<int> state(n, 0);
    std::vector<size_t> order;
    order.reserve(n);
    // Iterative DFS (post-order): dependencies first, declaration order otherwise.
    std::vector<std::pair<size_t, size_t>> st;
    for (size_t root = 0; root < n; ++root) {
      if (state[root]) continue;
      st.assign(1, {root, 0});
      state[root] = 1;
      while (!st.empty()) {
        auto& [v, k] = st.back();
        if (k < adjSize(v)) {
          size_t w = adjList[adjOff[v] + k++];
          if (state[w] == 0) {
            state[w] = 1;
            st.emplace_back(w, 0);
          } else if (state[w] == 1) {
            std::string msg = "dependency cycle: ";
            size_t from = 0;
            while (st[from].first != w) ++from;
            for (size_t q = from; q < st.size(); ++q) msg += rs[st[q].first].id + " -> ";
            msg += rs[w].id;
            // The loader drops this when validation named the same cycle (mergeDiagnostics).
            d.push_back({Severity::Error, rs[w].loc, msg});
            return false;
          }
        } else {
          state[v] = 2;
          order.push_back(v);
          st.pop_back();
        }
      }
    }
    // Permute in place (new position i takes old order[i]), following cycles: a second vector
    // of every resource would be the peak of a large spec's memory.
    std::vector<bool> placed(n, false);
    for (size_t i = 0; i < n; ++i) {
      if (placed[i]) continue;
      DesiredResource tmp = std::move(rs[i]);
      size_t j = i;
      while (true) {
        placed[j] = true;
        size_t k = order[j];
        if (k == i) {
          rs[j] = std::move(tmp);
          break;
        }
        rs[j] = std::move(rs[k]);
        j = k;
      }
    }
    return true;
  }

  void providerConfigs() {
    for (const auto& [name, p] : s.providers) {
      json c = p.config;
      for (const auto& [k, v] : p.strings) {
        bool isPath = k.rfind("path:", 0) == 0;
        std::string dotted = isPath ? k.substr(5) : k;
        std::string val = interpolate(s, v.v, v.loc, "", nullptr, &secrets);
        if (isPath) val = absPath(s, val);
        json* at = &c;
        size_t pos = 0;
        while (true) {
          auto dot = dotted.find('.', pos);
          std::string part = dotted.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
          if (dot == std::string::npos) {
            (*at)[part] = val;
            break;
          }
          at = &(*at)[part];
          pos = dot + 1;
        }
      }
      g->providerConfigs[name] = c;
    }
  }

  // Everything but the apps. `s.apps` may still be empty (apps read and expanded one by one
  // while apps.yml is parsed) or complete.
  void begin() {
    // Resources are moved, not copied, while the vector grows; reserving avoids holding two
    // copies of the vector at once (the peak of a large spec). Per app: containers, their
    // images, and a network or volume or two.
    size_t expected = s.templates.size() + 2 * s.vms.size() + s.hosts.size() + 8;
    for (const auto& a : s.apps) expected += 2 * a.containers.size() + a.volumes.size() + a.networks.size() + 1;
    g->resources.reserve(expected);
    idx.reserve(expected);
    if (expected >= kHashThreadFrom) startHashThread();
    templates();
    vms();
    hosts();
  }

  std::shared_ptr<DesiredGraph> run() {
    begin();
    for (const auto& a : s.apps) app(a);
    return finish();
  }

  // After every app: what spans apps (app dependencies, DNS, tiers), hashes, order, index.
  std::shared_ptr<DesiredGraph> finish() {
    appDeps();
    dns();
    finishHashes();
    derivedFiles();  // before hostItems: a derived file is a file item of its host like any other
    hostItems();
    tierEdges();
    providerConfigs();
    if (hashes) {
      auto done = hashes->finish();
      hashes.reset();
      for (const auto& h : done) g->resources[h.ix].hash = hexOf(h.digest);
    }
    size_t before = d.size();
    if (!sortTopo()) return nullptr;
    (void)before;
    // The expansion's own indexes are done with: free them before the graph's index is built
    // (both at once were part of the peak).
    idx = {};
    appContainers = {};
    tierMembers = {};
    tierBound = {};
    endpoints = {};
    g->reindex();
    g->environment = s.environment.v;
    g->prune = s.prune.set ? s.prune.v : true;
    g->intervalSeconds = s.intervalS.set ? static_cast<int>(s.intervalS.v) : 300;
    for (const auto& [k, v] : s.parallelism)
      if (v.set) g->parallelism[k] = static_cast<int>(v.v);
    for (const auto& [k, v] : s.callTimeoutS)
      if (v.set) g->callTimeouts[k] = std::chrono::seconds(v.v);
    std::sort(secrets.begin(), secrets.end());
    secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
    g->secretNames = secrets;
    g->specDir = s.absDir;
    g->secretsFile = s.secretsFile.set ? absPath(s, s.secretsFile.v) : "";
    for (const auto& t : s.tiers) {
      std::string name;
      for (const auto& n : t.names) name += (name.empty() ? "" : "+") + n.v;
      g->tierNames.push_back(name);
    }
    return g;
  }
};

std::shared_ptr<DesiredGraph> expandSpec(const Spec& s, Diagnostics& d, const ProviderRegistry& providers) {
  Expander e(s, d, providers);
  return e.run();
}

Expansion::Expansion(const Spec& s, Diagnostics& d, const ProviderRegistry& providers)
    : e_(std::make_unique<Expander>(s, d, providers)) {
  e_->begin();
}
Expansion::~Expansion() = default;
void Expansion::app(const AppSpec& a) { e_->app(a); }
std::shared_ptr<DesiredGraph> Expansion::finish() { return e_->finish(); }

}  // namespace tend::spec
