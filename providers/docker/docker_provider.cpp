// The Docker provider: containers, networks, volumes and images through the Engine API.
//
// observe: per endpoint, a handful of list calls issued concurrently (owned containers by
// label, desired names, networks, volumes, images) — never one inspect per container.
// plan: pure comparison of the desired hash with the io.tend.spec-hash label plus state.
// apply: create/replace/start/remove with the async client, no retries (the queue backs off).
#include "providers/docker/docker_provider.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <openssl/rand.h>

#include "core/spec/build_context.h"
#include "core/hash.h"
#include "core/log.h"
#include "providers/docker/engine_client.h"
#include "providers/docker/files.h"
#include "providers/docker/payload.h"

namespace tend::docker {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kDefaultEndpoint = "unix:/var/run/docker.sock";
constexpr int kDefaultParallelism = 16;
// Distinct image refs of one endpoint looked up one inspect each; more are listed.
constexpr size_t kMaxImageInspects = 8;

// An image ref as a path segment of /images/{name}/json: slashes and the tag/digest
// separators stay, anything else outside a ref's alphabet is percent-encoded.
std::string imagePath(const std::string& ref) { return percentEncode(ref, "._-/:@"); }

std::string jstr(const json& j, const char* key, const std::string& def = "") {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

bool jbool(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string labelOf(const json& entry, const char* key) {
  auto it = entry.find("Labels");
  if (it == entry.end() || !it->is_object()) return "";
  return jstr(*it, key);
}

Clock::time_point deadlineFor(const CallContext& ctx, std::chrono::seconds timeout) {
  auto d = Clock::now() + timeout;
  return std::min(d, ctx.deadline);
}

std::string redact(const std::string& s) { return Redactor::instance().redact(s); }

bool hasHealthcheck(const json& spec) {
  auto it = spec.find("healthcheck");
  if (it == spec.end() || !it->is_object()) return false;
  if (it->contains("disable") && (*it)["disable"].is_boolean() && (*it)["disable"].get<bool>())
    return false;
  auto t = it->find("test");
  if (t == it->end()) return false;
  if (t->is_array() && !t->empty() && (*t)[0] == "NONE") return false;
  return true;
}

// The exit code from the list Status ("Exited (3) 2 seconds ago"); -1 when it says none.
int exitCodeFromStatus(const std::string& status) {
  if (status.rfind("Exited (", 0) != 0) return -1;
  char* end = nullptr;
  long v = std::strtol(status.c_str() + 8, &end, 10);
  if (end == status.c_str() + 8 || *end != ')') return -1;
  return static_cast<int>(v);
}

// A container some sibling waits on with service_completed_successfully (payload field set by
// the spec expansion): it runs to completion once; exited 0 is its desired end state.
bool isOneShot(const json& spec) { return jbool(spec, "one_shot"); }

ApplyResponse failed(std::string msg, bool terminal = false) {
  ApplyResponse r;
  r.outcome = Outcome::Failed;
  r.message = redact(std::move(msg));
  r.terminal = terminal;
  return r;
}

ApplyResponse ok(std::string msg, json ownerData = nullptr) {
  ApplyResponse r;
  r.outcome = Outcome::Ok;
  r.message = std::move(msg);
  r.privateData = std::move(ownerData);
  return r;
}

// The HMAC key for secret digests in labels: 32 random bytes in the provider's state dir,
// created once (0600). Without a state dir (tools and tests that keep no state) the key is
// random per process: secret-bearing containers are then recreated by the next process, which
// keeps no state either. No randomness, no key: the provider refuses to start rather than
// fall back to a key an attacker could derive from the environment name.
Result<std::string> loadLabelKey(const std::string& stateDir) {
  std::string k(32, '\0');
  auto fresh = [&]() -> bool {
    return RAND_bytes(reinterpret_cast<unsigned char*>(k.data()), 32) == 1;
  };
  if (stateDir.empty()) {
    if (!fresh()) return makeError("docker: no randomness from OpenSSL for the label key", true);
    return k;
  }
  std::string path = (std::filesystem::path(stateDir) / "label-hmac.key").string();
  {
    std::ifstream in(path, std::ios::binary);
    std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (old.size() == 32) return old;
  }
  if (!fresh()) return makeError("docker: no randomness from OpenSSL for the label key", true);
  std::error_code ec;
  std::filesystem::create_directories(stateDir, ec);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, k.data(), k.size()) != 32 || ::fsync(fd) != 0 || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (fd >= 0) ::close(fd);
    log::warn("docker: cannot store the label key; secret-bearing containers will be recreated "
              "after a restart",
              {{"path", path}});
  }
  return k;
}

class DockerProvider final : public Provider {
 public:
  DockerProvider(const ProviderConfig& cfg, std::string labelKey)
      : environment_(cfg.environment), labelKey_(std::move(labelKey)), stateDir_(cfg.stateDir), hostSessions_(cfg.hostSessions) {
    const json& c = cfg.config;
    std::string transport = jstr(c, "transport");
    std::string endpoint = jstr(c, "endpoint");
    if (!endpoint.empty()) defaultEndpoint_ = endpoint;
    else if (transport.rfind("unix:", 0) == 0 || transport.rfind("tcp://", 0) == 0 ||
             transport.rfind("ssh://", 0) == 0)
      defaultEndpoint_ = transport;
    if (c.is_object() && c.contains("pull_always_interval_s") &&
        c["pull_always_interval_s"].is_number())
      pullAlwaysInterval_ = std::chrono::seconds(c["pull_always_interval_s"].get<int64_t>());
  }

  std::string name() const override { return "docker"; }
  std::vector<std::string> kinds() const override {
    return {"container", "network", "volume", "image"};
  }

  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;
  void prefetch(const std::vector<const DesiredResource*>& desired) override;
  // Creates and starts are short API calls on pooled keep-alive connections; dockerd itself
  // bounds the useful concurrency (see bench/docker_bench.sh), not the client.
  int defaultParallelism() const override { return kDefaultParallelism; }
  // depends_on condition service_started: running is enough (service_healthy waits for
  // ready = healthy, the default for every other dependency).
  bool startedSuffices(const DesiredResource& dependent, const std::string& depId) const override {
    if (dependent.kind != "container") return false;
    auto it = dependent.spec.find("depends_on");
    if (it == dependent.spec.end() || !it->is_object()) return false;
    for (auto& [svc, cond] : it->items())
      if (jstr(cond, "id") == depId) return jstr(cond, "condition") == "service_started";
    return false;
  }

 private:
  std::string endpointOf(const DesiredResource& d) const {
    std::string e = jstr(d.spec, "endpoint");
    return e.empty() ? defaultEndpoint_ : e;
  }
  std::string endpointOf(const ApplyRequest& req) const {
    if (req.desired) return endpointOf(*req.desired);
    if (req.observed) {
      std::string e = jstr(req.observed->state, "endpoint");
      if (!e.empty()) return e;
    }
    return defaultEndpoint_;
  }
  std::string envOf(const CallContext& ctx, const DesiredResource* d) const {
    if (d) {
      std::string e = jstr(d->spec, "environment");
      if (!e.empty()) return e;
    }
    return ctx.environment.empty() ? environment_ : ctx.environment;
  }
  Result<EngineClient*> client(const std::string& endpoint) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = clients_.find(endpoint);
    if (it != clients_.end()) return it->second.get();
    auto ep = parseEndpoint(endpoint);
    if (!ep) return ep.error();
    auto c = std::make_unique<EngineClient>(*ep, makeConnector(*ep, hostSessions_));
    auto* raw = c.get();
    clients_.emplace(endpoint, std::move(c));
    return raw;
  }
  ApiResponse call(EngineClient& c, const std::string& method, const std::string& target,
                   const json& body, Clock::time_point deadline) {
    ApiRequest r;
    r.method = method;
    r.target = target;
    if (!body.is_null()) r.body = body.dump();
    r.deadline = deadline;
    return c.call(std::move(r));
  }

  ApplyResponse applyContainer(const ApplyRequest& req, EngineClient& c);
  ApplyResponse applyNetwork(const ApplyRequest& req, EngineClient& c);
  ApplyResponse applyVolume(const ApplyRequest& req, EngineClient& c);
  ApplyResponse applyImage(const ApplyRequest& req, EngineClient& c);
  ApplyResponse buildImage(const ApplyRequest& req, EngineClient& c, const std::string& ref, const json& b);
  Result<void> removeContainer(EngineClient& c, const std::string& id, int graceSeconds,
                               const CallContext& ctx);
  ApplyResponse startedOutcome(const ApplyRequest& req, const std::string& containerId,
                               const std::string& what);

  // Where Compose secrets and configs of a container on a local engine are kept: one
  // directory per container name ("" without a state directory: they are copied in instead).
  std::string filesDirFor(const std::string& containerName) const {
    if (stateDir_.empty() || containerName.empty()) return "";
    return (std::filesystem::path(stateDir_) / "files" / containerName).string();
  }
  void removeFilesOf(const std::string& containerName) const {
    std::string dir = filesDirFor(containerName);
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  std::string environment_;
  std::string labelKey_;
  std::string stateDir_;
  HostSessions* hostSessions_ = nullptr;  // ssh:// endpoints: the daemon's connections
  std::string defaultEndpoint_ = kDefaultEndpoint;
  std::chrono::seconds pullAlwaysInterval_{24 * 3600};
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<EngineClient>> clients_;

  // The list reads of one endpoint that an observe of its resources makes.
  struct Reads {
    std::string owned;                          // containers by the environment label
    std::string networks, volumes, images;      // "" = not needed
    std::map<std::string, std::string> inspects;  // image ref as written -> its inspect
  };
  Reads readsOf(const std::vector<const DesiredResource*>& containers,
                const std::vector<const DesiredResource*>& networks,
                const std::vector<const DesiredResource*>& volumes,
                const std::vector<const DesiredResource*>& images, const std::string& env,
                bool includeOwned) const;
  // Reads begun by prefetch(), by endpoint and target, each taken by at most one observe:
  // only while younger than kPrefetchFresh and only when no apply began since it was sent
  // (applies_ counts them), so it answers as a read made by that observe would have. Each has
  // its own cancel signal: the observe that takes it forwards its cancellation (and so its
  // deadline, which the engine enforces by cancelling) to it.
  struct Prefetched {
    std::future<ApiResponse> response;
    std::shared_ptr<CancelSignal> cancel;
    Clock::time_point sent;
    uint64_t applies = 0;
  };
  static constexpr std::chrono::milliseconds kPrefetchFresh{1000};
  std::mutex prefetchMu_;
  std::map<std::pair<std::string, std::string>, Prefetched> prefetched_;
  std::atomic<uint64_t> applies_{0};
  std::optional<Prefetched> takePrefetched(const std::string& endpoint, const std::string& target);
  std::map<std::string, Clock::time_point> lastPull_;  // endpoint|ref -> last pull attempt ok
};

// ---------------------------------------------------------------------------------- observe

DockerProvider::Reads DockerProvider::readsOf(const std::vector<const DesiredResource*>& containers,
                                              const std::vector<const DesiredResource*>& networks,
                                              const std::vector<const DesiredResource*>& volumes,
                                              const std::vector<const DesiredResource*>& images,
                                              const std::string& env, bool includeOwned) const {
  Reads r;
  json ownedFilter = {{"label", {std::string(kLabelEnvironment) + "=" + env}}};
  r.owned = "/containers/json?all=1&filters=" + urlEncode(ownedFilter.dump());
  if (!networks.empty() || includeOwned) r.networks = "/networks";
  if (!volumes.empty() || includeOwned) r.volumes = "/volumes";
  // What each image ref names: up to kMaxImageInspects distinct refs, one inspect each (a
  // lookup for dockerd); more, one list (dockerd's list costs grow with every image the host
  // keeps, and it is the slowest of these calls on a host with a few dozen).
  std::set<std::string> refs;
  for (auto* d : images) refs.insert(jstr(d->spec, "ref"));
  for (auto* d : containers) refs.insert(jstr(d->spec, "image"));
  refs.erase("");
  if (refs.size() > kMaxImageInspects) r.images = "/images/json";
  else
    for (const auto& ref : refs) r.inspects[ref] = "/images/" + imagePath(ref) + "/json";
  return r;
}

std::optional<DockerProvider::Prefetched> DockerProvider::takePrefetched(const std::string& endpoint,
                                                                        const std::string& target) {
  std::lock_guard lk(prefetchMu_);
  if (prefetched_.empty()) return std::nullopt;
  auto it = prefetched_.find({endpoint, target});
  if (it == prefetched_.end()) return std::nullopt;
  Prefetched p = std::move(it->second);
  prefetched_.erase(it);
  // A read no one takes runs to its end (or its 30 s deadline) and is dropped.
  if (Clock::now() - p.sent >= kPrefetchFresh || p.applies != applies_.load()) return std::nullopt;
  return p;
}

void DockerProvider::prefetch(const std::vector<const DesiredResource*>& desired) {
  struct Kinds {
    std::vector<const DesiredResource*> containers, networks, volumes, images;
    std::string env;
  };
  std::map<std::string, Kinds> byEndpoint;
  for (const DesiredResource* d : desired) {
    if (!d) continue;
    Kinds& k = byEndpoint[endpointOf(*d)];
    if (k.env.empty()) k.env = envOf(CallContext{}, d);
    if (d->kind == "container") k.containers.push_back(d);
    else if (d->kind == "network") k.networks.push_back(d);
    else if (d->kind == "volume") k.volumes.push_back(d);
    else if (d->kind == "image") k.images.push_back(d);
  }
  const auto now = Clock::now();
  const uint64_t applies = applies_.load();
  std::lock_guard lk(prefetchMu_);
  prefetched_.clear();  // an earlier spec's: never taken now
  for (auto& [ep, k] : byEndpoint) {
    auto c = client(ep);
    if (!c) continue;  // the observe reports it
    // As a pass that prunes asks (networks and volumes even when the spec names none).
    Reads reads = readsOf(k.containers, k.networks, k.volumes, k.images, k.env, true);
    std::vector<std::string> targets{reads.owned, reads.networks, reads.volumes, reads.images};
    for (const auto& [ref, target] : reads.inspects) targets.push_back(target);
    for (const auto& t : targets) {
      if (t.empty()) continue;
      ApiRequest r;
      r.target = t;
      r.deadline = now + std::chrono::seconds(30);
      auto cancel = CancelSignal::make();
      r.cancel = cancel;
      prefetched_[{ep, t}] = Prefetched{(*c)->send(std::move(r)), std::move(cancel), now, applies};
    }
  }
}

ObserveResponse DockerProvider::observe(const ObserveRequest& req) {
  CancelScope cancelScope(req.ctx.cancel);  // every request below ends when the call is cancelled
  ObserveResponse out;
  struct Group {
    std::vector<const DesiredResource*> containers, networks, volumes, images, all;
    std::string env;
    EngineClient* client = nullptr;
    std::future<ApiResponse> owned, byName, networksF, volumesF, imagesF;
    std::map<std::string, std::future<ApiResponse>> imageInspects;  // ref as written -> inspect
  };
  std::map<std::string, Group> groups;
  for (const DesiredResource* d : req.desired) {
    if (!d) continue;
    Group& g = groups[endpointOf(*d)];
    g.all.push_back(d);
    if (g.env.empty()) g.env = envOf(req.ctx, d);
    if (d->kind == "container") g.containers.push_back(d);
    else if (d->kind == "network") g.networks.push_back(d);
    else if (d->kind == "volume") g.volumes.push_back(d);
    else if (d->kind == "image") g.images.push_back(d);
    else out.errors[d->id] = makeError("docker provider does not manage kind '" + d->kind + "'", true);
  }
  if (req.includeOwned && groups.empty()) groups[defaultEndpoint_].env = envOf(req.ctx, nullptr);

  auto deadline = deadlineFor(req.ctx, std::chrono::seconds(30));
  // A prefetched read this observe takes ends when this call is cancelled, as its own would.
  std::vector<CancelSignal::Registration> forwarded;
  // Issue every list call of every endpoint first, then collect: they run concurrently.
  // Named references, not a structured binding: lambdas below capture them, which clang
  // before 16 refuses for bindings (the fuzz build uses clang 14).
  for (auto& entry : groups) {
    const std::string& ep = entry.first;
    Group& g = entry.second;
    auto c = client(ep);
    if (!c) {
      for (auto* d : g.all) out.errors[d->id] = c.error();
      continue;
    }
    g.client = *c;
    auto send = [&](const std::string& target) {
      if (auto early = takePrefetched(ep, target)) {
        forwarded.push_back(req.ctx.onCancel([c = early->cancel] { c->cancel(); }));
        return std::move(early->response);
      }
      ApiRequest r;
      r.target = target;
      r.deadline = deadline;
      return g.client->send(std::move(r));
    };
    Reads reads = readsOf(g.containers, g.networks, g.volumes, g.images, g.env, req.includeOwned);
    g.owned = send(reads.owned);
    if (!reads.networks.empty()) g.networksF = send(reads.networks);
    if (!reads.volumes.empty()) g.volumesF = send(reads.volumes);
    if (!reads.images.empty()) g.imagesF = send(reads.images);
    for (const auto& [ref, target] : reads.inspects) g.imageInspects[ref] = send(target);
  }

  std::set<std::string> desiredIds;
  for (auto* d : req.desired)
    if (d) desiredIds.insert(d->id);

  // Named references, not a structured binding: lambdas below capture them, which clang
  // before 16 refuses for bindings (the fuzz build uses clang 14).
  for (auto& entry : groups) {
    const std::string& ep = entry.first;
    Group& g = entry.second;
    if (!g.client) continue;
    std::string failure;
    auto take = [&](std::future<ApiResponse>& f, bool containers = false) -> json {
      if (!f.valid()) return json::array();
      ApiResponse r = f.get();
      if (!r.ok()) {
        if (failure.empty()) failure = r.errorText();
        return json::array();
      }
      auto j = containers ? parseContainerList(r.body) : json::parse(r.body, nullptr, false);
      if (j.is_discarded() && failure.empty()) failure = "docker: unparsable list response";
      return j;
    };
    json owned = take(g.owned, true);
    // Desired names not among the owned containers: one more list by name (unowned conflicts,
    // other environments). In a steady state every name is owned and this call is skipped —
    // the daemon compiles each name regexp per container, which is slow for many names.
    if (failure.empty() && !g.containers.empty()) {
      std::set<std::string> ownedNames;
      if (owned.is_array())
        for (auto& e : owned)
          if (e.contains("Names") && e["Names"].is_array())
            for (auto& n : e["Names"])
              if (n.is_string()) ownedNames.insert(n.get<std::string>().substr(1));
      std::string alt;
      for (auto* d : g.containers) {
        std::string n = jstr(d->spec, "name");
        if (ownedNames.count(n)) continue;
        std::string re = exactNameFilter(n);  // ^/name$
        alt += (alt.empty() ? "" : "|") + re.substr(2, re.size() - 3);
      }
      if (!alt.empty()) {
        ApiRequest r;
        r.target = "/containers/json?all=1&filters=" +
                   urlEncode(json{{"name", {"^/(" + alt + ")$"}}}.dump());
        r.deadline = deadline;
        g.byName = g.client->send(std::move(r));
      }
    }
    json byName = take(g.byName, true), nets = take(g.networksF),
         vols = take(g.volumesF), imgs = take(g.imagesF);
    // Images: normalized ref -> image id (from the inspects here, or the list below).
    std::map<std::string, std::string> imageIds;
    for (auto& [ref, f] : g.imageInspects) {
      ApiResponse r = f.get();
      if (!r.error.empty() || r.status >= 500) {
        if (failure.empty()) failure = r.errorText();
        continue;
      }
      if (r.status != 200) continue;  // 404 (or a ref dockerd refuses): not present
      auto im = json::parse(r.body, nullptr, false);
      if (!im.is_object()) {
        if (failure.empty()) failure = "docker: unparsable image inspect response";
        continue;
      }
      // Only a tag or digest the ref names counts, as in the list: dockerd's inspect also
      // resolves image ids and their prefixes.
      std::string want = normalizeImageRef(ref);
      for (const char* key : {"RepoTags", "RepoDigests"})
        if (im.contains(key) && im[key].is_array())
          for (auto& t : im[key])
            if (t.is_string() && normalizeImageRef(t.get<std::string>()) == want) imageIds[want] = jstr(im, "Id");
    }
    if (!failure.empty()) {
      // The endpoint as a whole failed (unreachable, refused): one root cause for the scope.
      if (groups.size() == 1) out.scopeError = makeError(redact(failure));
      for (auto* d : g.all) out.errors[d->id] = makeError(redact(failure));
      if (g.all.empty())
        out.diagnostics.push_back({Severity::Warning, {}, "docker " + ep + ": " + redact(failure)});
      continue;
    }
    const std::string& env = g.env;

    if (imgs.is_array())
      for (auto& im : imgs) {
        std::string id = jstr(im, "Id");
        for (const char* key : {"RepoTags", "RepoDigests"})
          if (im.contains(key) && im[key].is_array())
            for (auto& t : im[key])
              if (t.is_string()) imageIds[normalizeImageRef(t.get<std::string>())] = id;
      }

    // Containers: merge both lists by id, index by name.
    std::map<std::string, const json*> byId;
    for (json* list : {&owned, &byName})
      if (list->is_array())
        for (auto& e : *list) byId[jstr(e, "Id")] = &e;
    std::map<std::string, const json*> byNameIdx;
    for (auto& [id, e] : byId)
      if (e->contains("Names") && (*e)["Names"].is_array())
        for (auto& n : (*e)["Names"])
          if (n.is_string()) {
            std::string s = n.get<std::string>();
            byNameIdx[s.rfind('/', 0) == 0 ? s.substr(1) : s] = e;
          }
    auto containerState = [&](const json& e) {
      std::string status = jstr(e, "Status");
      return json{{"endpoint", ep},
                  {"container_id", jstr(e, "Id")},
                  {"name", e.contains("Names") && e["Names"].is_array() && !e["Names"].empty()
                               ? e["Names"][0].get<std::string>().substr(1)
                               : ""},
                  {"state", jstr(e, "State")},
                  {"status", status},
                  {"health", healthFromStatus(status)},
                  {"exit_code", exitCodeFromStatus(status)},
                  {"image_id", jstr(e, "ImageID")},
                  {"owner_resource", labelOf(e, kLabelResource)},
                  {"owner_environment", labelOf(e, kLabelEnvironment)},
                  {"stop_grace_s", labelOf(e, kLabelStopGrace)}};
    };
    std::set<std::string> reportedContainers;
    for (auto* d : g.containers) {
      ObservedResource o;
      o.id = d->id;
      std::string name = jstr(d->spec, "name");
      auto it = byNameIdx.find(name);
      if (it == byNameIdx.end()) {
        o.message = "absent";
        o.state = {{"endpoint", ep}, {"name", name}};
      } else {
        const json& e = *it->second;
        o.exists = true;
        o.state = containerState(e);
        reportedContainers.insert(jstr(e, "Id"));
        o.owned = labelOf(e, kLabelResource) == d->id && labelOf(e, kLabelEnvironment) == env;
        o.appliedHash = labelOf(e, kLabelSpecHash);
        if (o.appliedHash != d->hash && referencesSecrets(d->spec)) {
          // The label holds the secret-keyed digest: equal means spec and secret values are
          // unchanged; report the plain spec hash then so plan and engine compare as usual.
          auto eff = effectiveSpecHash(*d, req.ctx.secrets, labelKey_);
          if (eff && *eff == o.appliedHash) o.appliedHash = d->hash;
          else if (eff && labelOf(e, "com.docker.compose.config-hash") == d->hash)
            o.state["secret_rotated"] = true;  // same spec text, another secret value
        }
        auto img = imageIds.find(normalizeImageRef(jstr(d->spec, "image")));
        if (img != imageIds.end()) o.state["desired_image_id"] = img->second;
        o.state["healthcheck"] = hasHealthcheck(d->spec);
        std::string st = o.state["state"], health = o.state["health"];
        o.ready = o.owned && o.appliedHash == d->hash && st == "running" &&
                  (health.empty() || health == "healthy");
        o.started = o.owned && o.appliedHash == d->hash && st == "running";
        o.message = containerMessage(st, jstr(e, "Status"));
        if (isOneShot(d->spec)) {
          o.state["one_shot"] = true;
          int code = o.state["exit_code"].get<int>();
          if (st == "exited" && code < 0) {
            // The list Status text had no "(N)": ask the container itself.
            ApiRequest ir;
            ir.target = "/containers/" + jstr(e, "Id") + "/json";
            ir.deadline = deadline;
            ApiResponse r = g.client->send(std::move(ir)).get();
            auto j = r.ok() ? json::parse(r.body, nullptr, false) : json();
            if (j.is_object() && j.contains("State") && j["State"].is_object() &&
                j["State"].contains("ExitCode") && j["State"]["ExitCode"].is_number_integer())
              code = j["State"]["ExitCode"].get<int>();
            o.state["exit_code"] = code;
          }
          if (st == "exited" && code >= 0) {
            bool current = o.owned && o.appliedHash == d->hash;
            o.ready = current && code == 0;
            // Exited non-zero is final for this spec: failed without an apply, never re-run.
            o.failed = current && code != 0;
            o.message = code == 0 ? "completed (exited 0)" : "exited with code " + std::to_string(code);
          } else if (st == "running") {
            o.ready = false;  // healthy or not, dependents wait for the exit
            o.message = "running (one-shot); waiting for it to exit";
          }
        }
      }
      out.observed[o.id] = std::move(o);
    }
    if (req.includeOwned && owned.is_array()) {
      for (auto& e : owned) {
        std::string rid = labelOf(e, kLabelResource);
        if (rid.empty() || desiredIds.count(rid) || labelOf(e, kLabelEnvironment) != env) continue;
        if (out.observed.count(rid)) continue;
        ObservedResource o;
        o.id = rid;
        o.exists = o.owned = true;
        o.appliedHash = labelOf(e, kLabelSpecHash);
        o.state = containerState(e);
        o.ready = jstr(e, "State") == "running";
        o.message = containerMessage(jstr(e, "State"), jstr(e, "Status"));
        out.observed[rid] = std::move(o);
      }
    }

    // Networks and volumes: whole lists (few objects per host), by name.
    auto objects = [&](const json& list, const char* nameKey) {
      std::map<std::string, const json*> m;
      if (list.is_array())
        for (auto& e : list) m[jstr(e, nameKey)] = &e;
      return m;
    };
    auto netByName = objects(nets, "Name");
    json volList = vols.is_object() && vols.contains("Volumes") && vols["Volumes"].is_array()
                       ? vols["Volumes"]
                       : json::array();
    auto volByName = objects(volList, "Name");

    auto observeNamed = [&](const std::vector<const DesiredResource*>& ds,
                            std::map<std::string, const json*>& idx, const char* idKey,
                            const char* what) {
      for (auto* d : ds) {
        ObservedResource o;
        o.id = d->id;
        std::string name = jstr(d->spec, "name");
        bool external = jbool(d->spec, "external");
        o.state = {{"endpoint", ep}, {"name", name}, {"external", external}};
        auto it = idx.find(name);
        if (it == idx.end()) {
          o.message = "absent";
        } else {
          const json& e = *it->second;
          o.exists = true;
          o.owned = labelOf(e, kLabelResource) == d->id && labelOf(e, kLabelEnvironment) == env;
          o.appliedHash = labelOf(e, kLabelSpecHash);
          o.state[idKey] = jstr(e, idKey[0] == 'n' ? "Id" : "Name");
          o.state["prune_volume"] = labelOf(e, kLabelPruneVolume) == "true";
          o.state["owner_resource"] = labelOf(e, kLabelResource);
          bool volume = std::string(what) == "volume";
          o.ready = external || (o.owned && (volume || o.appliedHash == d->hash));
          o.message = external ? "external, present" : (o.owned ? "present" : "present, not owned by tend");
        }
        out.observed[o.id] = std::move(o);
      }
      if (!req.includeOwned) return;
      for (auto& [name, e] : idx) {
        std::string rid = labelOf(*e, kLabelResource);
        if (rid.empty() || desiredIds.count(rid) || labelOf(*e, kLabelEnvironment) != env) continue;
        if (kindOfId(rid) != what || out.observed.count(rid)) continue;
        ObservedResource o;
        o.id = rid;
        o.exists = o.owned = o.ready = true;
        o.appliedHash = labelOf(*e, kLabelSpecHash);
        o.state = {{"endpoint", ep},
                   {"name", name},
                   {idKey, jstr(*e, idKey[0] == 'n' ? "Id" : "Name")},
                   {"prune_volume", labelOf(*e, kLabelPruneVolume) == "true"}};
        o.message = "present";
        out.observed[rid] = std::move(o);
      }
    };
    observeNamed(g.networks, netByName, "network_id", "network");
    observeNamed(g.volumes, volByName, "volume_name", "volume");

    for (auto* d : g.images) {
      ObservedResource o;
      o.id = d->id;
      std::string ref = jstr(d->spec, "ref");
      std::string pull = jstr(d->spec, "pull", "missing");
      o.state = {{"endpoint", ep}, {"ref", ref}, {"pull", pull}};
      auto it = imageIds.find(normalizeImageRef(ref));
      if (it != imageIds.end()) {
        o.exists = o.owned = o.ready = true;
        o.appliedHash = d->hash;  // images carry no labels; presence of the ref is the state
        o.state["image_id"] = it->second;
        o.message = "present";
        if (pull == "always") {
          std::lock_guard<std::mutex> lk(mu_);
          auto lp = lastPull_.find(ep + "|" + ref);
          o.state["pull_due"] = lp == lastPull_.end() || Clock::now() - lp->second >= pullAlwaysInterval_;
        }
      } else {
        o.message = "not present";
      }
      out.observed[o.id] = std::move(o);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------- plan

PlannedAction DockerProvider::plan(const PlanRequest& req) const {
  PlannedAction p;
  const DesiredResource* d = req.desired;
  const ObservedResource* o = req.observed;
  p.id = d ? d->id : (o ? o->id : "");
  p.kind = d ? d->kind : kindOfId(p.id);
  bool exists = o && o->exists;

  if (!d) {  // left the spec: prune
    if (!exists) {
      p.reason = "already absent";
    } else if (!o->owned) {
      p.reason = "not owned by tend; left alone";
    } else if (p.kind == "image") {
      p.reason = "images are kept (they may be shared); remove with docker image prune";
    } else if (p.kind == "volume" && !jbool(o->state, "prune_volume")) {
      p.action = Action::Delete;
      p.reason = "left the spec; volume kept (prune_volumes is false: data is precious)";
    } else {
      p.action = Action::Delete;
      p.reason = "left the spec";
    }
    return p;
  }

  if (!exists) {
    p.action = Action::Create;
    if (p.kind == "image") {
      std::string pull = jstr(d->spec, "pull", "missing");
      p.reason = d->spec.contains("build") ? "not built for this context: build"
                 : pull == "never"          ? "not present (pull: never)"
                                            : "not present: pull";
    } else if (p.kind == "network" && jbool(d->spec, "external")) {
      p.reason = "external network absent";
    } else {
      p.reason = "absent";
    }
    return p;
  }

  bool external = (p.kind == "network" || p.kind == "volume") && jbool(d->spec, "external");
  if (external) {
    p.reason = "external, present";
    return p;
  }
  if (!o->owned) {
    p.conflict = true;
    std::string holder = jstr(o->state, "owner_resource");
    p.reason = "name '" + jstr(o->state, "name") + "' is held by a " + p.kind + " not owned by " +
               (holder.empty() ? std::string("tend") : "this resource (it belongs to " + holder + ")") +
               "; not touched";
    return p;
  }

  if (p.kind == "image") {
    if (jbool(o->state, "pull_due")) {
      p.action = Action::Update;
      p.reason = "pull: always — checking the registry for a newer image";
    } else {
      p.reason = "present";
    }
    return p;
  }

  if (o->appliedHash != d->hash) {
    p.diff = {{"spec-hash", {{"from", o->appliedHash}, {"to", d->hash}}}};
    if (p.kind == "volume") {
      p.reason = "volume spec changed; volumes are never recreated (data is precious): "
                 "remove it by hand to apply";
      return p;
    }
    p.action = Action::Replace;
    p.reason = jbool(o->state, "secret_rotated") ? "a secret it uses changed" : "spec changed";
    if (jbool(o->state, "secret_rotated")) p.diff = {{"secrets", {{"from", "(secret)"}, {"to", "(secret)"}}}};
    return p;
  }

  if (p.kind != "container") {
    p.reason = "up to date";
    return p;
  }
  std::string state = jstr(o->state, "state");
  std::string imageId = jstr(o->state, "image_id"), want = jstr(o->state, "desired_image_id");
  if (!want.empty() && !imageId.empty() && want != imageId) {
    p.action = Action::Replace;
    p.reason = "image updated: " + jstr(d->spec, "image") + " now points to another image";
    p.diff = {{"image_id", {{"from", imageId}, {"to", want}}}};
    return p;
  }
  if (state == "running") {
    std::string h = jstr(o->state, "health");
    p.reason = h.empty() ? "running" : "running (" + h + ")";
    return p;
  }
  if (state == "restarting") {
    p.reason = "restarting (restart policy at work)";
    return p;
  }
  if (isOneShot(d->spec) && state == "exited") {
    // Not drift: a one-shot runs once per spec hash. Exited 0 is done; otherwise apply
    // reports the failure (terminal) without re-running it.
    int code = o->state.contains("exit_code") && o->state["exit_code"].is_number_integer()
                   ? o->state["exit_code"].get<int>()
                   : -1;
    if (code == 0) {
      p.reason = "completed (exited 0)";
      return p;
    }
    if (o->failed) {  // the engine reports it failed; nothing to apply (see observe)
      p.reason = "one-shot exited with code " + std::to_string(code);
      return p;
    }
    p.action = Action::Update;
    p.reason = code > 0 ? "one-shot exited with code " + std::to_string(code) : "one-shot exited";
    return p;
  }
  p.drift = true;
  p.diff = {{"state", {{"from", state}, {"to", "running"}}}};
  if (state == "dead" || state == "removing") {
    p.action = Action::Replace;
    p.reason = state;
  } else {
    p.action = Action::Update;
    p.reason = o->message.empty() ? state : o->message;
  }
  return p;
}

// ------------------------------------------------------------------------------------ apply

ApplyResponse DockerProvider::apply(const ApplyRequest& req) {
  // Reads begun before this apply ended, or while it ran, no longer answer for an observe.
  applies_++;
  struct Ended {
    std::atomic<uint64_t>& n;
    ~Ended() { n++; }
  } ended{applies_};
  CancelScope cancelScope(req.ctx.cancel);
  auto c = client(endpointOf(req));
  if (!c) return failed(c.error().message, true);
  const std::string& kind = req.action.kind.empty() ? kindOfId(req.action.id) : req.action.kind;
  if (req.action.conflict) return failed(req.action.reason, true);
  // Only marked objects are ever changed or removed, whatever the plan says.
  if (req.observed && req.observed->exists && !req.observed->owned) {
    if (req.action.action == Action::Delete) return ok("not owned by tend; left alone");
    if (req.action.action != Action::Noop &&
        !(req.desired && jbool(req.desired->spec, "external")))
      return failed("an object not owned by tend holds the name; not touched", true);
  }
  if (kind == "container") return applyContainer(req, **c);
  if (kind == "network") return applyNetwork(req, **c);
  if (kind == "volume") return applyVolume(req, **c);
  if (kind == "image") return applyImage(req, **c);
  return failed("docker provider does not manage kind '" + kind + "'", true);
}

Result<void> DockerProvider::removeContainer(EngineClient& c, const std::string& id,
                                             int graceSeconds, const CallContext& ctx) {
  auto stop = call(c, "POST", "/containers/" + id + "/stop?t=" + std::to_string(graceSeconds),
                   nullptr, deadlineFor(ctx, std::chrono::seconds(graceSeconds + 30)));
  if (!stop.okOr304() && stop.status != 404) return makeError(redact(stop.errorText()));
  auto rm = call(c, "DELETE", "/containers/" + id + "?v=1&force=1", nullptr,
                 deadlineFor(ctx, std::chrono::seconds(60)));
  if (!rm.ok() && rm.status != 404) return makeError(redact(rm.errorText()));
  return {};
}

ApplyResponse DockerProvider::startedOutcome(const ApplyRequest& req, const std::string& cid,
                                             const std::string& what) {
  ApplyResponse r = ok(what, json{{"container_id", cid}});
  if (req.desired && isOneShot(req.desired->spec)) {
    // service_completed_successfully dependents wait for the exit; the next observation
    // reports ready (exited 0) or apply reports the failure.
    r.outcome = Outcome::Progressing;
    r.started = true;
    r.message = what + "; one-shot running, waiting for it to exit";
    r.requeueAfter = std::chrono::seconds(1);
  } else if (req.desired && hasHealthcheck(req.desired->spec)) {
    // Dependents with condition service_healthy wait: the engine requeues us and the next
    // observation reports ready once the list Status says "(healthy)".
    r.outcome = Outcome::Progressing;
    r.started = true;  // service_started dependents may go on
    r.message = what + "; waiting for healthcheck";
    r.requeueAfter = std::chrono::seconds(1);
  }
  return r;
}

// An exited one-shot is never restarted: exited 0 is done, any other code is a terminal
// failure until its spec changes or the container is removed (then it runs again).
std::optional<ApplyResponse> oneShotExit(const ApplyRequest& req) {
  const ObservedResource* o = req.observed;
  if (!req.desired || !isOneShot(req.desired->spec) || !o || jstr(o->state, "state") != "exited")
    return std::nullopt;
  int code = o->state.contains("exit_code") && o->state["exit_code"].is_number_integer()
                 ? o->state["exit_code"].get<int>()
                 : -1;
  std::string cid = jstr(o->state, "container_id");
  if (code == 0) return ok("completed (exited 0)", json{{"container_id", cid}});
  ApplyResponse r = failed(code > 0 ? "exited with code " + std::to_string(code) : "exited", true);
  r.privateData = json{{"container_id", cid}};
  return r;
}

ApplyResponse DockerProvider::applyContainer(const ApplyRequest& req, EngineClient& c) {
  const PlannedAction& a = req.action;
  const ObservedResource* o = req.observed;
  std::string cid = o ? jstr(o->state, "container_id") : "";
  int grace = 10;
  if (o) {
    std::string g = jstr(o->state, "stop_grace_s");
    if (!g.empty()) grace = std::atoi(g.c_str());
  }
  if (req.desired && req.desired->spec.is_object() &&
      req.desired->spec.contains("stop_grace_period_s") &&
      req.desired->spec["stop_grace_period_s"].is_number())
    grace = req.desired->spec["stop_grace_period_s"].get<int>();

  switch (a.action) {
    case Action::Noop: {
      if (!o || !o->exists) return ok("absent");
      std::string h = jstr(o->state, "health");
      if (jstr(o->state, "state") == "running" && (h == "starting" || h == "unhealthy")) {
        ApplyResponse r;
        r.outcome = Outcome::Progressing;
        r.started = true;
        r.message = h == "starting" ? "running; waiting for healthcheck" : "running but unhealthy";
        r.requeueAfter = std::chrono::seconds(h == "starting" ? 1 : 10);
        return r;
      }
      return ok(o->message, json{{"container_id", cid}});
    }
    case Action::Delete: {
      if (cid.empty()) return ok("already absent");
      auto r = removeContainer(c, cid, grace, req.ctx);
      if (!r) return failed(r.error().message);
      removeFilesOf(o ? jstr(o->state, "name") : "");
      return ok("removed");
    }
    case Action::Update: {  // drift: an owned container with the right spec is not running
      if (cid.empty()) return failed("no container id observed");
      if (auto f = oneShotExit(req)) return *f;
      std::string verb = jstr(o->state, "state") == "paused" ? "unpause" : "start";
      auto r = call(c, "POST", "/containers/" + cid + "/" + verb, nullptr,
                    deadlineFor(req.ctx, std::chrono::seconds(60)));
      if (!r.okOr304()) return failed(r.errorText());
      return startedOutcome(req, cid, verb == "start" ? "started" : "unpaused");
    }
    case Action::Create:
    case Action::Replace:
      break;
  }
  if (!req.desired) return failed("create without a desired spec", true);
  const DesiredResource& d = *req.desired;
  bool replace = a.action == Action::Replace;
  if (a.action == Action::Create && o && o->exists && o->owned) {
    // A repeated create (the object appeared since the plan): converge instead of failing.
    if (o->appliedHash != d.hash) {
      replace = true;
    } else {
      std::string st = jstr(o->state, "state");
      if (st == "running" || st == "restarting") return ok("already exists", json{{"container_id", cid}});
      if (auto f = oneShotExit(req)) return *f;
      auto r = call(c, "POST", "/containers/" + cid + "/start", nullptr,
                    deadlineFor(req.ctx, std::chrono::seconds(60)));
      if (!r.okOr304()) return failed(r.errorText());
      return startedOutcome(req, cid, "started");
    }
  }
  std::string env = envOf(req.ctx, &d);
  auto built = buildContainerCreate(d, env);
  if (!built) return failed(built.error().message, true);
  json body = std::move(built->body);
  auto eff = effectiveSpecHash(d, req.ctx.secrets, labelKey_);
  if (!eff) return failed(eff.error().message, eff.error().terminal);
  body["Labels"][kLabelSpecHash] = *eff;
  auto sub = substituteSecretsInJson(body, req.ctx.secrets);
  if (!sub) return failed(sub.error().message, sub.error().terminal);
  std::string name = jstr(d.spec, "name");
  // Compose secrets and configs: bind-mounted read-only from the state directory when the
  // engine is on this machine, else copied into the container before it starts (files.h).
  SecretString archive;
  {
    auto files = resolveFiles(d.spec, req.ctx.secrets);
    if (!files) return failed(files.error().message, files.error().terminal);
    if (!files->empty()) {
      auto ep = parseEndpoint(endpointOf(d));
      std::string dir = filesDirFor(name);
      if (ep && ep->kind == Endpoint::Kind::Unix && !dir.empty()) {
        auto paths = materializeFiles(dir, *files);
        if (!paths) return failed(paths.error().message, paths.error().terminal);
        json& binds = body["HostConfig"]["Binds"];
        if (!binds.is_array()) binds = json::array();
        for (size_t i = 0; i < paths->size(); ++i) binds.push_back((*paths)[i] + ":" + (*files)[i].target + ":ro");
      } else {
        auto t = tarFiles(*files);
        if (!t) return failed(t.error().message, t.error().terminal);
        archive = std::move(*t);
      }
    }
  }
  if (replace && !cid.empty()) {
    auto r = removeContainer(c, cid, grace, req.ctx);
    if (!r) return failed("replace: removing the old container failed: " + r.error().message);
  }
  ApiRequest creq;
  creq.method = "POST";
  creq.target = "/containers/create?name=" + urlEncode(name);
  creq.body = body.dump();
  creq.deadline = deadlineFor(req.ctx, std::chrono::seconds(60));
  body = nullptr;  // drop the secret-bearing copy early
  auto cr = c.call(std::move(creq));
  if (!cr.ok()) {
    if (cr.status == 404)
      return failed("image " + jstr(d.spec, "image") + " is not present: " + cr.errorText());
    if (cr.status == 409)
      return failed("container name '" + name + "' is taken: " + cr.errorText());
    return failed("create failed: " + cr.errorText(), cr.status == 400);
  }
  auto cj = json::parse(cr.body, nullptr, false);
  std::string id = jstr(cj, "Id");
  if (id.empty()) return failed("create returned no container id");
  if (!archive.empty()) {
    ApiRequest ar;
    ar.method = "PUT";
    ar.target = "/containers/" + id + "/archive?path=%2F";
    ar.body = archive.reveal();
    ar.contentType = "application/x-tar";
    ar.deadline = deadlineFor(req.ctx, std::chrono::seconds(60));
    auto r = c.call(std::move(ar));
    if (!r.ok()) return failed("copying secrets and configs into the container failed: " + r.errorText());
  }
  for (auto& [net, ep] : built->extraNetworks) {
    auto r = call(c, "POST", "/networks/" + urlEncode(net) + "/connect",
                  json{{"Container", id}, {"EndpointConfig", ep}},
                  deadlineFor(req.ctx, std::chrono::seconds(60)));
    if (!r.ok()) return failed("connecting to network " + net + " failed: " + r.errorText());
  }
  auto st = call(c, "POST", "/containers/" + id + "/start", nullptr,
                 deadlineFor(req.ctx, std::chrono::seconds(60)));
  if (!st.okOr304()) return failed("start failed: " + st.errorText());
  return startedOutcome(req, id, replace ? "recreated" : "created");
}

ApplyResponse DockerProvider::applyNetwork(const ApplyRequest& req, EngineClient& c) {
  const PlannedAction& a = req.action;
  const ObservedResource* o = req.observed;
  std::string nid = o ? jstr(o->state, "network_id") : "";
  auto dl = [&] { return deadlineFor(req.ctx, std::chrono::seconds(60)); };
  if (a.action == Action::Noop) return ok(o ? o->message : "");
  if (a.action == Action::Delete) {
    if (nid.empty()) return ok("already absent");
    auto r = call(c, "DELETE", "/networks/" + nid, nullptr, dl());
    if (!r.ok() && r.status != 404) return failed("remove failed: " + r.errorText());
    return ok("removed");
  }
  if (!req.desired) return failed("create without a desired spec", true);
  const DesiredResource& d = *req.desired;
  std::string name = jstr(d.spec, "name");
  if (jbool(d.spec, "external"))
    return failed("external network '" + name + "' does not exist", true);

  bool replace = a.action == Action::Replace;
  if (a.action == Action::Create && o && o->exists && o->owned) {
    if (o->appliedHash == d.hash) return ok("already exists", json{{"network_id", nid}});
    replace = true;
  }
  // Replace: remember attached containers (and their aliases), detach, recreate, reattach.
  std::vector<std::pair<std::string, json>> attached;
  if (replace && !nid.empty()) {
    auto ins = call(c, "GET", "/networks/" + nid, nullptr, dl());
    if (!ins.ok() && ins.status != 404) return failed("inspect failed: " + ins.errorText());
    auto nj = json::parse(ins.body, nullptr, false);
    if (nj.is_object() && nj.contains("Containers") && nj["Containers"].is_object()) {
      for (auto& [cid, _] : nj["Containers"].items()) {
        auto ci = call(c, "GET", "/containers/" + cid + "/json", nullptr, dl());
        json aliases = json::array();
        auto cij = json::parse(ci.body, nullptr, false);
        if (ci.ok() && cij.is_object()) {
          auto nets = cij["NetworkSettings"]["Networks"];
          if (nets.is_object() && nets.contains(name) && nets[name]["Aliases"].is_array())
            for (auto& al : nets[name]["Aliases"])
              if (al.is_string() && cid.rfind(al.get<std::string>(), 0) != 0) aliases.push_back(al);
        }
        attached.emplace_back(cid, json{{"Aliases", aliases}});
        auto dr = call(c, "POST", "/networks/" + nid + "/disconnect",
                       json{{"Container", cid}, {"Force", true}}, dl());
        if (!dr.ok() && dr.status != 404) return failed("disconnect failed: " + dr.errorText());
      }
    }
    auto rm = call(c, "DELETE", "/networks/" + nid, nullptr, dl());
    if (!rm.ok() && rm.status != 404) return failed("remove failed: " + rm.errorText());
  }
  auto cr = call(c, "POST", "/networks/create", buildNetworkCreate(d, envOf(req.ctx, &d)), dl());
  if (!cr.ok()) return failed("create failed: " + cr.errorText(), cr.status == 400);
  std::string id = jstr(json::parse(cr.body, nullptr, false), "Id");
  for (auto& [cid, ep] : attached) {
    auto r = call(c, "POST", "/networks/" + id + "/connect",
                  json{{"Container", cid}, {"EndpointConfig", ep}}, dl());
    if (!r.ok()) return failed("reconnecting container " + cid.substr(0, 12) + ": " + r.errorText());
  }
  return ok(replace ? "recreated" : "created", json{{"network_id", id}});
}

ApplyResponse DockerProvider::applyVolume(const ApplyRequest& req, EngineClient& c) {
  const PlannedAction& a = req.action;
  const ObservedResource* o = req.observed;
  auto dl = [&] { return deadlineFor(req.ctx, std::chrono::seconds(60)); };
  if (a.action == Action::Noop || a.action == Action::Replace) return ok(a.reason);
  if (a.action == Action::Delete) {
    std::string name = o ? jstr(o->state, "name") : "";
    if (name.empty()) return ok("already absent");
    if (!jbool(o->state, "prune_volume")) {
      log::info("volume kept: prune_volumes is false", {{"resource", a.id}, {"volume", name}});
      return ok("volume '" + name + "' kept (prune_volumes is false: data is precious); "
                "remove it with: docker volume rm " + name);
    }
    auto r = call(c, "DELETE", "/volumes/" + urlEncode(name), nullptr, dl());
    if (!r.ok() && r.status != 404) return failed("remove failed: " + r.errorText());
    return ok("removed");
  }
  if (!req.desired) return failed("create without a desired spec", true);
  const DesiredResource& d = *req.desired;
  if (jbool(d.spec, "external"))
    return failed("external volume '" + jstr(d.spec, "name") + "' does not exist", true);
  if (o && o->exists && o->owned) return ok("already exists");
  auto r = call(c, "POST", "/volumes/create", buildVolumeCreate(d, envOf(req.ctx, &d)), dl());
  if (!r.ok()) return failed("create failed: " + r.errorText(), r.status == 400);
  return ok("created", json{{"volume_name", jstr(d.spec, "name")}});
}

ApplyResponse DockerProvider::applyImage(const ApplyRequest& req, EngineClient& c) {
  const PlannedAction& a = req.action;
  if (a.action == Action::Noop || a.action == Action::Delete) return ok(a.reason);
  if (!req.desired) return failed("pull without a desired spec", true);
  const DesiredResource& d = *req.desired;
  std::string ref = jstr(d.spec, "ref");
  std::string pull = jstr(d.spec, "pull", "missing");
  if (ref.empty()) return failed("image has no ref", true);
  if (d.spec.contains("build") && d.spec["build"].is_object()) return buildImage(req, c, ref, d.spec["build"]);
  if (pull == "never")
    return failed("image " + ref + " is not present on " + d.host +
                      " and pull is 'never' (load or build it there first)",
                  true);
  std::string name, tag;
  splitImageRef(ref, name, tag);
  std::string streamError, lastStatus;
  ApiRequest r;
  r.method = "POST";
  r.target = "/images/create?fromImage=" + urlEncode(name) + "&tag=" + urlEncode(tag);
  r.deadline = deadlineFor(req.ctx, std::chrono::seconds(30 * 60));
  const std::string id = d.id;
  auto progress = req.ctx.progress;
  r.onLine = [&streamError, &lastStatus, progress, id](const std::string& line) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) return;
    if (j.contains("error")) {
      streamError = j.contains("errorDetail") ? jstr(j["errorDetail"], "message", jstr(j, "error"))
                                              : jstr(j, "error");
      return;
    }
    // Status transitions only ("Pull complete", "Digest: ..."), not every byte-count update.
    if (j.contains("progressDetail") && j["progressDetail"].is_object() &&
        !j["progressDetail"].empty())
      return;
    std::string msg = jstr(j, "status");
    if (j.contains("id")) msg = jstr(j, "id") + ": " + msg;
    if (msg.empty() || msg == lastStatus) return;
    lastStatus = msg;
    if (progress) progress(id, msg);
  };
  if (req.ctx.progress) req.ctx.progress(id, "pulling " + ref);
  auto res = c.call(std::move(r));
  if (!res.ok()) return failed("pull " + ref + " failed: " + res.errorText());
  if (!streamError.empty()) return failed("pull " + ref + " failed: " + streamError);
  {
    std::lock_guard<std::mutex> lk(mu_);
    lastPull_[c.endpoint().raw + "|" + ref] = Clock::now();
  }
  return ok(lastStatus.empty() ? "pulled" : lastStatus);
}

// Compose build: the context (minus .dockerignore) as a tar to POST /build, tagged `ref`
// (which carries the context hash: an unchanged context is present and never rebuilt) and
// any further tags.
ApplyResponse DockerProvider::buildImage(const ApplyRequest& req, EngineClient& c, const std::string& ref,
                                         const json& b) {
  const DesiredResource& d = *req.desired;
  std::string dockerfile = jstr(b, "dockerfile");
  std::string inlineDf = jstr(b, "dockerfile_inline");
  std::vector<spec::ContextFile> files;
  std::string err;
  if (!spec::listContext(jstr(b, "context"), dockerfile, files, err)) return failed("build " + ref + ": " + err, true);
  std::vector<std::pair<std::string, std::string>> extra;
  if (!inlineDf.empty()) {
    dockerfile = ".tend.dockerfile_inline";
    extra.emplace_back(dockerfile, inlineDf);
  }
  std::string tar;
  if (!spec::tarContext(files, extra, tar, err)) return failed("build " + ref + ": " + err, true);
  std::string q = "/build?rm=1&forcerm=1&t=" + urlEncode(ref) + "&dockerfile=" + urlEncode(dockerfile);
  if (b.contains("tags") && b["tags"].is_array())
    for (auto& t : b["tags"]) q += "&t=" + urlEncode(t.get<std::string>());
  if (!jstr(b, "target").empty()) q += "&target=" + urlEncode(jstr(b, "target"));
  if (!jstr(b, "network").empty()) q += "&networkmode=" + urlEncode(jstr(b, "network"));
  if (b.contains("args") && b["args"].is_object() && !b["args"].empty()) q += "&buildargs=" + urlEncode(b["args"].dump());
  json labels = b.contains("labels") && b["labels"].is_object() ? b["labels"] : json::object();
  labels[kLabelResource] = d.id;
  labels[kLabelEnvironment] = environment_;
  q += "&labels=" + urlEncode(labels.dump());
  if (b.contains("cache_from") && b["cache_from"].is_array() && !b["cache_from"].empty())
    q += "&cachefrom=" + urlEncode(b["cache_from"].dump());
  if (b.contains("extra_hosts") && b["extra_hosts"].is_array() && !b["extra_hosts"].empty()) {
    std::string h;
    for (auto& x : b["extra_hosts"]) h += (h.empty() ? "" : ",") + x.get<std::string>();
    q += "&extrahosts=" + urlEncode(h);
  }
  if (jbool(b, "no_cache")) q += "&nocache=1";
  if (jbool(b, "pull")) q += "&pull=1";
  if (b.contains("shm_size") && b["shm_size"].is_number() && b["shm_size"].get<int64_t>() > 0)
    q += "&shmsize=" + std::to_string(b["shm_size"].get<int64_t>());
  ApiRequest r;
  r.method = "POST";
  r.target = q;
  r.body = std::move(tar);
  r.contentType = "application/x-tar";
  r.deadline = deadlineFor(req.ctx, std::chrono::seconds(60 * 60));
  std::string streamError, last;
  auto progress = req.ctx.progress;
  const std::string id = d.id;
  r.onLine = [&streamError, &last, progress, id](const std::string& line) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) return;
    if (j.contains("error")) {
      streamError = j.contains("errorDetail") ? jstr(j["errorDetail"], "message", jstr(j, "error")) : jstr(j, "error");
      return;
    }
    std::string msg = jstr(j, "stream");
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    if (msg.rfind("Step ", 0) == 0) {
      last = msg;
      if (progress) progress(id, msg);
    }
  };
  if (req.ctx.progress) req.ctx.progress(id, "building " + ref);
  auto res = c.call(std::move(r));
  if (!res.ok()) return failed("build " + ref + " failed: " + redact(res.errorText()));
  if (!streamError.empty()) return failed("build " + ref + " failed: " + redact(streamError));
  return ok("built " + ref);
}

}  // namespace

Result<std::unique_ptr<Provider>> makeDockerProvider(const ProviderConfig& cfg) {
  std::string t = jstr(cfg.config, "transport");
  if (!t.empty() && t != "ssh" && t.rfind("unix:", 0) != 0 && t.rfind("tcp://", 0) != 0 &&
      t.rfind("ssh://", 0) != 0)
    return makeError("providers.docker.transport: '" + t +
                         "' is not one of ssh, unix:PATH, tcp://HOST:PORT",
                     true);
  auto key = loadLabelKey(cfg.stateDir);
  if (!key) return key.error();
  return std::unique_ptr<Provider>(std::make_unique<DockerProvider>(cfg, std::move(*key)));
}

}  // namespace tend::docker
