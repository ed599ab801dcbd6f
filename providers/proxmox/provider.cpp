// The Proxmox provider: `template/NAME` (download-url, create with a cloud-init drive and the
// guest agent, convert to template) and `vm/NAME` (full clone, config, disk grow, start).
//
// observe: one GET /cluster/resources per pass; a VM's config is read only when its entry in
// that list changed since the last read (or the last read is older than kConfigMaxAge, or tend
// wrote to it), so a pass over a converged site costs one request. The guest agent is asked
// only for running VMs whose expected address it has not reported yet.
// plan: pure; normalised comparison (vm_model.h), so a pass after a converge writes nothing.
// apply: never waits for a task. A clone, create, download, start, reboot, resize, stop or
// destroy answers Progressing with the task's UPID in the private data and requeueAfter; the
// next pass (also after a restart: the private data lives in the state database) reads that
// task's status and goes on from where it is. A task that ends with an error exitstatus
// fails the apply with the task's error; lock errors are Busy (retried, not a failure).
// Long tasks (clone, create, download) run at most `reconcile.parallelism.proxmox` at once
// per node: past that the apply answers Busy until one ends.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "core/log.h"
#include "core/provider_plan.h"
#include "core/secrets.h"
#include "providers/proxmox/client.h"
#include "providers/proxmox/normalize.h"
#include "providers/proxmox/proxmox_registration.h"
#include "providers/proxmox/settings.h"
#include "providers/proxmox/vm_model.h"
#include "providers/proxmox/wire.h"

namespace tend::proxmox {
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);
constexpr auto kConfigMaxAge = std::chrono::minutes(10);
constexpr auto kTaskRecheck = seconds(1);
constexpr auto kBusyRetry = seconds(3);
constexpr auto kInflightExpiry = std::chrono::hours(2);

std::string redact(const std::string& s) { return Redactor::instance().redact(s); }

// When the VM's current boot began, in Unix seconds (from its uptime): changes written during
// one boot and waiting for a reboot are recorded with it, and a later boot has applied them.
int64_t bootEpoch(int64_t uptimeSeconds) {
  auto now = std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return now - uptimeSeconds;
}
constexpr int64_t kSameBootSlack = 30;  // uptime in cluster/resources lags by up to a status cycle

ApplyResponse progressing(std::string msg, json priv, seconds after = kTaskRecheck) {
  ApplyResponse r;
  r.outcome = Outcome::Progressing;
  r.message = redact(msg);
  r.privateData = std::move(priv);
  r.requeueAfter = after;
  return r;
}

ApplyResponse busy(std::string msg, json priv = nullptr, seconds after = kBusyRetry) {
  ApplyResponse r;
  r.outcome = Outcome::Busy;
  r.message = redact(msg);
  r.privateData = std::move(priv);
  r.requeueAfter = after;
  return r;
}

ApplyResponse failedWith(std::string msg, bool terminal, json priv = nullptr) {
  ApplyResponse r = applyFailed(redact(msg), terminal);
  r.privateData = std::move(priv);
  return r;
}

ApplyResponse okWith(std::string msg, json priv) {
  ApplyResponse r;
  r.outcome = Outcome::Ok;
  r.message = redact(msg);
  r.privateData = std::move(priv);
  return r;
}

// An API error as the apply's answer: locks are Busy, the rest fails (retryable or not).
ApplyResponse fromError(const std::string& what, const ApiError& e, json priv = nullptr) {
  if (e.kind == ErrorKind::Busy) return busy(what + ": " + e.text(), std::move(priv));
  return failedWith(what + ": " + e.text(), !e.retryable(), std::move(priv));
}

std::string qemuPath(const std::string& node, int64_t vmid) {
  return "/nodes/" + pathSegment(node) + "/qemu/" + std::to_string(vmid);
}

bool isLongOp(const std::string& op) { return op == "clone" || op == "create" || op == "download"; }

std::string opWords(const std::string& op) {
  if (op == "clone") return "clone";
  if (op == "create") return "create";
  if (op == "download") return "image download";
  if (op == "template") return "conversion to a template";
  if (op == "start") return "start";
  if (op == "reboot") return "reboot";
  if (op == "resize") return "disk resize";
  if (op == "stop") return "stop";
  if (op == "destroy") return "destroy";
  return op;
}

// The file name a template's image is downloaded to (content `import` wants a known
// extension; cloud images are qcow2 whatever their .img name says).
std::string imageFileName(const DesiredVm& d) {
  std::string base = d.imageUrl;
  if (auto q = base.find_first_of("?#"); q != std::string::npos) base = base.substr(0, q);
  if (auto s = base.rfind('/'); s != std::string::npos) base = base.substr(s + 1);
  for (const char* ext : {".img", ".qcow2", ".raw"})
    if (base.size() > std::strlen(ext) && base.compare(base.size() - std::strlen(ext), std::string::npos, ext) == 0) {
      base = base.substr(0, base.size() - std::strlen(ext));
      break;
    }
  std::string out;
  for (char c : base) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '-');
  if (out.empty()) out = "image";
  return "tend-" + d.name + "-" + out + ".qcow2";
}

// A clone or create writes the new VM's config only when its task ends: until then the
// config is `lock: clone` (or `create`) and nothing else, so it carries no mark whoever started
// it — tend too, when it died after the POST and before it recorded the task's UPID. Such a
// VM is waited for (nothing is written to a locked VM), not taken for someone else's: once the
// task ends its mark says whose it is. `st` is stateFromConfig's.
std::string beingMade(const json& st) {
  std::string lock = st.value("lock", "");
  if (lock != "clone" && lock != "create") return "";
  if (st.contains("mark") && !st["mark"].value("resource", "").empty()) return "";
  return lock;
}
std::string beingMadeMessage(int64_t vmid, const std::string& lock) {
  return "VM " + std::to_string(vmid) + " is being " + (lock == "clone" ? "cloned" : "created") + " (lock: " + lock +
         ") and carries no tend mark until that task ends; waiting to see whose it is";
}

bool hasTendTag(const json& entry) {
  auto t = stringField(entry, "tags");
  if (!t) return false;
  for (const auto& x : splitList(*t))
    if (x == "tend") return true;
  return false;
}

// What of a cluster/resources entry shows that a VM's config may have changed.
std::string fingerprint(const json& e) {
  json f = json::array();
  for (const char* k : {"name", "node", "status", "template", "tags", "lock", "maxmem", "maxcpu", "maxdisk"}) {
    auto it = e.find(k);
    f.push_back(it == e.end() ? json() : json(asString(*it).value_or("")));
  }
  return f.dump();
}

class ProxmoxProvider final : public Provider {
 public:
  ProxmoxProvider(Settings s, std::string environment, int parallelism)
      : settings_(std::move(s)), env_(std::move(environment)), taskLimit_(parallelism > 0 ? parallelism : 2) {
    for (const auto& w : settings_.warnings) log::warn(w, {{"provider", "proxmox"}});
  }

  std::string name() const override { return "proxmox"; }
  std::vector<std::string> kinds() const override { return {"vm", "template"}; }
  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;
  int defaultParallelism() const override { return taskLimit_; }
  // One cluster per provider: every VM and template is observed by the same call.
  std::string observeScope(const DesiredResource&) const override { return ""; }
  std::vector<ConcurrencyKey> concurrencyKeys(const DesiredResource* desired,
                                              const PlannedAction& action) const override {
    std::string node = settings_.node;
    int64_t vmid = 0;
    if (desired) {
      node = desired->spec.value("node", node);
      vmid = intField(desired->spec, "vmid").value_or(0);
    }
    (void)action;
    std::vector<ConcurrencyKey> keys = {{"node/" + node, taskLimit_}};
    if (vmid) keys.push_back({"vm/" + std::to_string(vmid), 1});
    return keys;
  }
  std::chrono::milliseconds defaultCallTimeout() const override { return std::chrono::milliseconds(60000); }

 private:
  struct Cached {
    std::string fp;
    json config;
    Clock::time_point at;
  };
  struct AgentSeen {
    std::string ip;
    int64_t uptime = 0;
  };

  std::string envOf(const CallContext& ctx) const { return ctx.environment.empty() ? env_ : ctx.environment; }

  Result<std::shared_ptr<Client>> client(const CallContext& ctx) {
    std::string secret = settings_.client.tokenSecret;
    if (secret.find("${secret:") != std::string::npos) {
      if (!ctx.secrets)
        return makeError("providers.proxmox.token_secret names a secret but no secrets are loaded", true);
      auto v = substituteSecrets(secret, *ctx.secrets);
      if (!v) return makeError("providers.proxmox.token_secret: " + v.error().message, true);
      secret = v->reveal();
    }
    Redactor::instance().add(secret);
    std::lock_guard lk(mu_);
    if (client_ && clientSecret_ == secret) return client_;
    ClientConfig cc = settings_.client;
    cc.tokenSecret = secret;
    auto c = std::make_shared<Client>(cc);
    if (auto r = c->ready(); !r) return makeError(redact(r.error().message), true);
    client_ = c;
    clientSecret_ = secret;
    return client_;
  }

  // One request with this call's deadline and cancellation.
  std::future<Response> send(Client& c, Request r, const CallContext& ctx,
                             std::vector<CancelSignal::Registration>& regs) {
    r.deadline = std::min(Clock::now() + kCallTimeout, ctx.deadline);
    auto tok = std::make_shared<CancelToken>();
    r.cancel = tok;
    regs.push_back(ctx.onCancel([tok] { tok->cancel(); }));
    return c.send(std::move(r));
  }
  Response call(Client& c, Request r, const CallContext& ctx) {
    std::vector<CancelSignal::Registration> regs;
    return send(c, std::move(r), ctx, regs).get();
  }
  static Request get(std::string path, Params p = {}) {
    Request r;
    r.path = std::move(path);
    r.params = std::move(p);
    return r;
  }
  static Request write(const char* method, std::string path, Params p = {}) {
    Request r = get(std::move(path), std::move(p));
    r.method = method;
    return r;
  }

  void invalidate(int64_t vmid) {
    std::lock_guard lk(mu_);
    cache_.erase(vmid);
  }

  // Long tasks per node: at most taskLimit_ at once. A slot is reserved (atomically with the
  // check) before the task is started; the caller drops the reservation once the task's UPID
  // holds the slot (startTask adds it) or the start failed.
  std::optional<std::string> reserveSlot(const std::string& node, std::string& why) {
    std::lock_guard lk(mu_);
    auto& m = inflight_[node];
    auto now = Clock::now();
    for (auto it = m.begin(); it != m.end();) {
      if (now - it->second > kInflightExpiry) it = m.erase(it);
      else ++it;
    }
    if (static_cast<int>(m.size()) >= taskLimit_) {
      why = std::to_string(m.size()) + " clone/create tasks are running on node " + node +
            " (reconcile.parallelism.proxmox = " + std::to_string(taskLimit_) + "); waiting for one to end";
      return std::nullopt;
    }
    std::string token = "reserved:" + std::to_string(++reservations_);
    m.emplace(token, now);
    return token;
  }
  void inflightAdd(const std::string& node, const std::string& upid) {
    std::lock_guard lk(mu_);
    inflight_[node].emplace(upid, Clock::now());
  }
  void inflightRemove(const std::string& node, const std::string& upid) {
    std::lock_guard lk(mu_);
    inflight_[node].erase(upid);
  }

  // Starts a task-returning call; records it in the private data.
  ApplyResponse startTask(Client& c, Request r, const CallContext& ctx, const std::string& op,
                          const std::string& node, int64_t vmid, json priv, const std::string& what) {
    auto resp = call(c, std::move(r), ctx);
    invalidate(vmid);
    if (!resp.ok()) return fromError(opWords(op) + " of VM " + std::to_string(vmid) + " refused", resp.error, priv);
    std::string upid = resp.data.is_string() ? resp.data.get<std::string>() : "";
    if (upid.empty()) return progressing(what + " (done at once)", priv, seconds(1));
    priv["task"] = {{"upid", upid}, {"op", op}, {"node", node}, {"vmid", vmid}};
    if (isLongOp(op)) inflightAdd(node, upid);
    return progressing(what + " (task " + upid + ")", priv);
  }

  // Follows priv.task. Returns an answer while the task runs or when it failed; nullopt when
  // it ended well (priv.task removed, `doneOp` set) or there is none.
  std::optional<ApplyResponse> followTask(Client& c, json& priv, const CallContext& ctx, std::string& doneOp) {
    if (!priv.contains("task") || !priv["task"].is_object()) return std::nullopt;
    json t = priv["task"];
    std::string upid = t.value("upid", ""), node = t.value("node", settings_.node), op = t.value("op", "");
    int64_t vmid = t.value("vmid", int64_t{0});
    auto resp = c.taskStatus(node, upid, std::min(Clock::now() + kCallTimeout, ctx.deadline));
    if (!resp.ok()) {
      if (resp.error.kind == ErrorKind::Server && resp.error.message.find("no such task") != std::string::npos) {
        priv.erase("task");
        inflightRemove(node, upid);
        return std::nullopt;  // the node forgot it (reboot): look at the VM again
      }
      return failedWith("reading the status of " + opWords(op) + " task " + upid + ": " + resp.error.text(),
                        false, nullptr);
    }
    auto st = parseTaskStatus(resp.data);
    if (!st) return failedWith("task " + upid + ": " + st.error().message, false, nullptr);
    if (st->running) {
      if (isLongOp(op)) inflightAdd(node, upid);  // after a restart: counts against the node again
      return progressing(opWords(op) + " of VM " + std::to_string(vmid) + " running (task " + upid + ")", nullptr);
    }
    priv.erase("task");
    inflightRemove(node, upid);
    if (vmid) invalidate(vmid);
    if (st->failed()) {
      ApiError e = st->error(upid);
      std::string msg = opWords(op) + " of VM " + std::to_string(vmid) + " failed: " + st->exitstatus;
      if (e.kind == ErrorKind::Busy) return busy(msg, priv);
      return failedWith(msg, false, priv);
    }
    doneOp = op;
    return std::nullopt;
  }

  // GET .../config: the config, nullopt when the VM does not exist, or an error.
  Result<std::optional<json>> readConfig(Client& c, const std::string& node, int64_t vmid, const CallContext& ctx) {
    auto r = call(c, get(qemuPath(node, vmid) + "/config"), ctx);
    if (r.ok()) return std::optional<json>(r.data);
    if (r.error.kind == ErrorKind::NotFound) return std::optional<json>();
    return r.error.toError();
  }

  // The guest agent's addresses contain `ip`: "" when yes, else why not.
  std::string agentReports(const Response& r, const std::string& ip) {
    if (!r.ok()) return r.error.message;
    const json& res = r.data.is_object() && r.data.contains("result") ? r.data["result"] : r.data;
    std::vector<std::string> seen;
    if (res.is_array())
      for (const auto& iface : res)
        if (iface.is_object() && iface.contains("ip-addresses") && iface["ip-addresses"].is_array())
          for (const auto& a : iface["ip-addresses"]) {
            std::string addr = stringField(a, "ip-address").value_or("");
            if (addr == ip) return "";
            if (!addr.empty() && addr != "127.0.0.1" && addr != "::1") seen.push_back(addr);
          }
    std::string out = "the agent reports ";
    if (seen.empty()) return out + "no address";
    for (size_t i = 0; i < seen.size(); ++i) out += (i ? ", " : "") + seen[i];
    return out;
  }
  void agentConfirmed(int64_t vmid, const std::string& ip, int64_t uptime) {
    std::lock_guard lk(mu_);
    agentSeen_[vmid] = {ip, uptime};
    agentWaitSince_.erase(vmid);
  }
  bool agentKnown(int64_t vmid, const std::string& ip, int64_t uptime) {
    std::lock_guard lk(mu_);
    auto it = agentSeen_.find(vmid);
    if (it == agentSeen_.end()) return false;
    if (it->second.ip != ip || uptime < it->second.uptime) {
      agentSeen_.erase(it);  // rebooted since, or another address wanted
      return false;
    }
    it->second.uptime = uptime;
    return true;
  }

  ApplyResponse applyVm(const ApplyRequest& req, const DesiredVm& d, Client& c);
  ApplyResponse applyTemplate(const ApplyRequest& req, const DesiredVm& d, Client& c);
  ApplyResponse applyDelete(const ApplyRequest& req, Client& c);

  Settings settings_;
  std::string env_;
  int taskLimit_;
  std::mutex mu_;
  std::shared_ptr<Client> client_;
  std::string clientSecret_;
  std::map<int64_t, Cached> cache_;
  std::map<int64_t, AgentSeen> agentSeen_;
  std::map<int64_t, Clock::time_point> agentWaitSince_;
  std::map<std::string, std::map<std::string, Clock::time_point>> inflight_;  // node -> upid -> since
  std::map<int64_t, std::pair<std::string, std::string>> deleteTasks_;        // vmid -> (upid, op)
  uint64_t reservations_ = 0;
};

// ---- observe ---------------------------------------------------------------------------------

ObserveResponse ProxmoxProvider::observe(const ObserveRequest& req) {
  ObserveResponse out;
  auto cl = client(req.ctx);
  if (!cl) {
    out.scopeError = cl.error();
    return out;
  }
  Client& c = **cl;
  auto res = call(c, get("/cluster/resources", {{"type", "vm"}}), req.ctx);
  if (!res.ok()) {
    Error e = res.error.toError();
    if (res.error.kind == ErrorKind::Auth)
      e.message = "proxmox: authentication refused for token " + settings_.client.tokenId + " (" +
                  res.error.message + "): check providers.proxmox.token_id and token_secret";
    e.message = redact(e.message);
    out.scopeError = e;
    return out;
  }
  std::map<int64_t, json> entries;
  if (res.data.is_array())
    for (const auto& e : res.data) {
      std::string type = stringField(e, "type").value_or("");
      if (type != "qemu") continue;
      if (auto v = intField(e, "vmid")) entries[*v] = e;
    }

  const std::string env = envOf(req.ctx);
  struct Want {
    const DesiredResource* r;
    DesiredVm d;
  };
  std::vector<Want> wants;
  std::set<int64_t> wantedVmids;
  for (const DesiredResource* r : req.desired) {
    auto d = desiredOf(*r, settings_, env);
    if (!d) {
      out.errors[r->id] = d.error();
      continue;
    }
    wantedVmids.insert(d->vmid);
    wants.push_back({r, std::move(*d)});
  }
  // Which configs to read: entries of wanted vmids and tend-tagged others (prune, adoption).
  std::set<int64_t> needed;
  for (const auto& w : wants)
    if (entries.count(w.d.vmid)) needed.insert(w.d.vmid);
  if (req.includeOwned)
    for (const auto& [vmid, e] : entries)
      if (!wantedVmids.count(vmid) && hasTendTag(e)) needed.insert(vmid);
  // Clones and creates tend started for resources that have left the spec since (their
  // records' private data comes with includeOwned): such a VM carries no mark, nor a tag,
  // until its task ends, and only the recorded task says it is tend's.
  std::map<int64_t, std::string> started;  // vmid -> resource id
  if (req.includeOwned) {
    std::set<std::string> desiredIds;
    for (const DesiredResource* r : req.desired) desiredIds.insert(r->id);
    for (const auto& [rid, pd] : req.privateData) {
      if (desiredIds.count(rid) || !pd.is_object() || !pd.contains("task") || !pd["task"].is_object()) continue;
      std::string op = pd["task"].value("op", "");
      int64_t vmid = pd["task"].value("vmid", int64_t{0});
      if ((op == "clone" || op == "create") && vmid && !wantedVmids.count(vmid) && entries.count(vmid)) {
        started[vmid] = rid;
        needed.insert(vmid);
      }
    }
  }

  std::map<int64_t, json> configs;
  std::map<int64_t, Error> readErrors;
  {
    std::vector<int64_t> toRead;
    {
      std::lock_guard lk(mu_);
      auto now = Clock::now();
      for (int64_t vmid : needed) {
        auto it = cache_.find(vmid);
        if (it != cache_.end() && it->second.fp == fingerprint(entries[vmid]) && now - it->second.at < kConfigMaxAge)
          configs[vmid] = it->second.config;
        else
          toRead.push_back(vmid);
      }
    }
    std::vector<CancelSignal::Registration> regs;
    std::vector<std::pair<int64_t, std::future<Response>>> futs;
    for (int64_t vmid : toRead) {
      std::string node = stringField(entries[vmid], "node").value_or(settings_.node);
      futs.emplace_back(vmid, send(c, get(qemuPath(node, vmid) + "/config"), req.ctx, regs));
    }
    for (auto& [vmid, f] : futs) {
      Response r = f.get();
      if (r.ok() && r.data.is_object()) {
        configs[vmid] = r.data;
        std::lock_guard lk(mu_);
        cache_[vmid] = {fingerprint(entries[vmid]), r.data, Clock::now()};
      } else if (!r.ok() && r.error.kind != ErrorKind::NotFound) {
        readErrors[vmid] = r.error.toError();
      }
    }
  }

  // The guest agent, for running VMs whose address it has not reported yet.
  std::map<int64_t, std::string> agentWhy;  // vmid -> "" (reports it) or the reason
  {
    std::vector<CancelSignal::Registration> regs;
    std::vector<std::tuple<int64_t, std::string, std::future<Response>>> futs;
    for (const auto& w : wants) {
      if (w.d.isTemplate || !w.d.agent || w.d.expectedIp.empty()) continue;
      auto e = entries.find(w.d.vmid);
      auto cf = configs.find(w.d.vmid);
      if (e == entries.end() || cf == configs.end()) continue;
      if (stringField(e->second, "status").value_or("") != "running") {
        std::lock_guard lk(mu_);
        agentWaitSince_.erase(w.d.vmid);
        continue;
      }
      int64_t up = intField(e->second, "uptime").value_or(0);
      if (agentKnown(w.d.vmid, w.d.expectedIp, up)) {
        agentWhy[w.d.vmid] = "";
        continue;
      }
      std::string node = stringField(e->second, "node").value_or(w.d.node);
      futs.emplace_back(w.d.vmid, w.d.expectedIp,
                        send(c, get(qemuPath(node, w.d.vmid) + "/agent/network-get-interfaces"), req.ctx, regs));
    }
    for (auto& [vmid, ip, f] : futs) {
      Response r = f.get();
      std::string why = agentReports(r, ip);
      if (why.empty()) agentConfirmed(vmid, ip, intField(entries[vmid], "uptime").value_or(0));
      agentWhy[vmid] = why;
    }
  }

  auto observedOf = [&](const std::string& id, int64_t vmid, const json& e, const json& cfg) {
    ObservedResource o;
    o.id = id;
    o.exists = true;
    o.state = stateFromConfig(cfg);
    o.state["vmid"] = vmid;
    o.state["node"] = stringField(e, "node").value_or(settings_.node);
    o.state["status"] = stringField(e, "status").value_or("unknown");
    std::string lock = stringField(e, "lock").value_or(o.state.value("lock", ""));
    o.state["lock"] = lock;
    const json& mark = o.state["mark"];
    std::string menv = mark.value("environment", "");
    o.owned = mark.value("resource", "") == id && (menv.empty() || menv == env);
    o.appliedHash = o.owned ? mark.value("hash", "") : "";
    // Changes waiting for a reboot: the running VM's size differs from its (pending) config.
    json pending = json::array();
    if (o.state["status"] == "running") {
      if (auto mm = intField(e, "maxmem"); mm && (*mm >> 20) != o.state.value("memory", int64_t{0}))
        pending.push_back("memory " + std::to_string(*mm >> 20) + " -> " + std::to_string(o.state.value("memory", int64_t{0})));
      int64_t cpus = o.state.value("cores", int64_t{1}) * o.state.value("sockets", int64_t{1});
      if (auto mc = intField(e, "maxcpu"); mc && *mc != cpus)
        pending.push_back("cores " + std::to_string(*mc) + " -> " + std::to_string(cpus));
    }
    o.state["pending"] = pending;
    return o;
  };

  for (const auto& w : wants) {
    const std::string& id = w.r->id;
    if (readErrors.count(w.d.vmid)) {
      out.errors[id] = readErrors[w.d.vmid];
      continue;
    }
    auto e = entries.find(w.d.vmid);
    auto cf = configs.find(w.d.vmid);
    if (e == entries.end() || cf == configs.end()) {
      ObservedResource o;
      o.id = id;
      o.message = "absent";
      out.observed[id] = o;
      continue;
    }
    ObservedResource o = observedOf(id, w.d.vmid, e->second, cf->second);
    // A clone tend started and still follows: the new VM carries no mark until it ends.
    if (!o.owned) {
      auto pd = req.privateData.find(id);
      if (pd != req.privateData.end() && pd->second.is_object() && pd->second.contains("task") &&
          pd->second["task"].value("vmid", int64_t{0}) == w.d.vmid && pd->second["task"].value("op", "") == "clone") {
        o.owned = true;
        o.appliedHash.clear();
      }
    }
    // Changes tend wrote that wait for a reboot (cloud-init values, restart: manual), kept in
    // the private data with the boot they were written in: still pending in that boot.
    if (o.owned && o.state["status"] == "running") {
      auto pd = req.privateData.find(id);
      if (pd != req.privateData.end() && pd->second.is_object() && pd->second.contains("pending_reboot")) {
        const json& pr = pd->second["pending_reboot"];
        int64_t boot = bootEpoch(intField(e->second, "uptime").value_or(0));
        if (std::llabs(boot - pr.value("boot", int64_t{0})) <= kSameBootSlack && pr.contains("fields"))
          for (const auto& f : pr["fields"]) {
            std::string name = f.is_string() ? f.get<std::string>() : "";
            if (name.empty() || name == "memory" || name == "cores") continue;  // seen from the running size
            o.state["pending"].push_back(name);
          }
      }
    }
    std::string status = o.state["status"];
    std::string lock = o.state["lock"];
    if (!o.owned && !beingMade(o.state).empty()) {
      o.message = beingMadeMessage(w.d.vmid, lock);
    } else if (!o.owned) {
      o.message = "VM " + std::to_string(w.d.vmid) + " exists and is not managed by tend";
    } else if (!lock.empty()) {
      o.message = "locked (" + lock + ")";
    } else if (w.d.isTemplate) {
      o.ready = o.state.value("template", false);
      o.message = o.ready ? "template" : "not yet a template";
    } else if (status != "running") {
      o.message = status;
    } else {
      o.started = true;
      std::string pendingNote;
      if (!o.state["pending"].empty()) {
        for (const auto& p : o.state["pending"]) pendingNote += (pendingNote.empty() ? "" : ", ") + p.get<std::string>();
        pendingNote = "; pending a reboot: " + pendingNote + (w.d.restartAuto ? "" : " (restart: manual)");
      }
      auto aw = agentWhy.find(w.d.vmid);
      if (!w.d.agent || w.d.expectedIp.empty() || (aw != agentWhy.end() && aw->second.empty())) {
        o.ready = true;
        o.message = "running" + pendingNote;
      } else {
        std::string why = aw == agentWhy.end() ? "not asked" : aw->second;
        auto now = Clock::now();
        Clock::time_point since;
        {
          std::lock_guard lk(mu_);
          since = agentWaitSince_.emplace(w.d.vmid, now).first->second;
        }
        auto waited = std::chrono::duration_cast<seconds>(now - since).count();
        if (waited >= settings_.agentTimeoutSeconds) {
          o.failed = true;
          o.message = "the guest agent did not report " + w.d.expectedIp + " within " +
                      std::to_string(settings_.agentTimeoutSeconds) + "s (" + why + ")";
        } else {
          o.message = "running; waiting for the guest agent to report " + w.d.expectedIp + " (" + why + ")";
        }
      }
    }
    o.message = redact(o.message);
    out.observed[id] = std::move(o);
  }

  if (req.includeOwned) {
    for (const auto& [vmid, e] : entries) {
      if (wantedVmids.count(vmid) || !configs.count(vmid)) continue;
      json st = stateFromConfig(configs[vmid]);
      std::string rid = st["mark"].value("resource", "");
      std::string menv = st["mark"].value("environment", "");
      if (auto sit = started.find(vmid); rid.empty() && sit != started.end()) {
        std::string lock = beingMade(st);
        if (lock.empty() || out.observed.count(sit->second)) continue;
        ObservedResource o = observedOf(sit->second, vmid, e, configs[vmid]);
        o.owned = true;  // the recorded task is tend's; the mark comes when it ends
        o.message = "being " + std::string(lock == "clone" ? "cloned" : "created") + " (lock: " + lock +
                    "), not in the spec: deleted once that task ends";
        o.ready = true;
        out.observed[sit->second] = std::move(o);
        continue;
      }
      if (rid.empty() || (!menv.empty() && menv != env) || out.observed.count(rid)) continue;
      if (rid.rfind("vm/", 0) != 0 && rid.rfind("template/", 0) != 0) continue;
      ObservedResource o = observedOf(rid, vmid, e, configs[vmid]);
      o.message = "owned, not in the spec";
      o.ready = true;
      out.observed[rid] = std::move(o);
    }
  }
  return out;
}

// ---- plan ------------------------------------------------------------------------------------

PlannedAction ProxmoxProvider::plan(const PlanRequest& req) const {
  PlanWords w;
  w.conflict = "conflict: {id}: its vmid is held by a VM tend does not manage (no tend mark in its description)";
  auto s = startPlan(req, w);
  if (s.which == PlanCase::Conflict && req.observed->state.is_object() && !beingMade(req.observed->state).empty()) {
    // Not a conflict yet: observed not ready, so the engine looks again after a while.
    PlannedAction a = s.action;
    a.conflict = false;
    a.action = Action::Noop;
    a.reason = req.observed->message.empty() ? "being made by a task that has not ended" : req.observed->message;
    return a;
  }
  if (s.which == PlanCase::LeftSpec || s.which == PlanCase::Absent || s.which == PlanCase::Conflict)
    return s.action;
  PlannedAction a = s.action;
  auto d = desiredOf(*req.desired, settings_, env_);
  if (!d) {
    a.action = Action::Update;
    a.reason = d.error().message;
    return a;
  }
  const json& st = req.observed->state;
  // No observation of the VM itself (tendctl plan --offline: only the recorded state): the
  // common decision is all there is to say.
  if (!st.is_object() || !st.contains("status")) return a;
  if (d->isTemplate) {
    if (!st.value("template", false)) {
      a.action = Action::Update;
      a.reason = s.which == PlanCase::SpecChanged ? a.reason + "; not yet a template" : "not yet a template";
    }
    return a;
  }
  VmDiff diff = diffVm(*d, st);
  for (const auto& c : diff.changes) a.diff[c.field] = {{"from", c.from}, {"to", c.to}};
  if (!diff.refusal.empty()) a.diff["disk"] = {{"refused", diff.refusal}};
  if (s.which == PlanCase::SpecChanged) {
    if (!diff.empty()) a.reason += ": " + diff.summary();
    return a;
  }
  if (!diff.empty()) {
    a.action = Action::Update;
    a.drift = true;
    a.reason = "drift: " + diff.summary();
    return a;
  }
  if (!st.value("lock", "").empty()) return a;  // someone else's operation: observed not ready
  if (st.value("status", "") != "running") {
    a.action = Action::Update;
    a.reason = st.value("status", "stopped");
    return a;
  }
  if (d->restartAuto && st.contains("pending") && !st["pending"].empty()) {
    a.action = Action::Update;
    a.reason = "pending a reboot: " + st["pending"].dump();
    a.diff["pending"] = st["pending"];
  }
  return a;
}

// ---- apply -----------------------------------------------------------------------------------

ApplyResponse ProxmoxProvider::apply(const ApplyRequest& req) {
  if (req.action.conflict) return failedWith(req.action.reason, true);
  auto cl = client(req.ctx);
  if (!cl) return failedWith(cl.error().message, cl.error().terminal);
  if (req.action.action == Action::Delete) return applyDelete(req, **cl);
  if (!req.desired) return failedWith(req.action.id + ": nothing desired", true);
  auto d = desiredOf(*req.desired, settings_, envOf(req.ctx));
  if (!d) return failedWith(d.error().message, true);
  if (d->isTemplate) return applyTemplate(req, *d, **cl);
  return applyVm(req, *d, **cl);
}

ApplyResponse ProxmoxProvider::applyVm(const ApplyRequest& req, const DesiredVm& d, Client& c) {
  const CallContext& ctx = req.ctx;
  json priv = req.privateData.is_object() ? req.privateData : json::object();
  std::string doneOp;
  if (auto r = followTask(c, priv, ctx, doneOp)) return *r;
  const std::string vm = "VM " + std::to_string(d.vmid);

  auto cfg = readConfig(c, d.node, d.vmid, ctx);
  if (!cfg) return failedWith(vm + ": " + cfg.error().message, cfg.error().terminal, priv);
  if (!cfg->has_value()) {
    if (d.templateVmid == 0) return failedWith(d.id + ": no template to clone from", true, priv);
    std::string why;
    auto slot = reserveSlot(d.node, why);
    if (!slot) return busy(why, priv, seconds(1));
    Params p = {{"newid", std::to_string(d.vmid)},
                {"name", d.name},
                {"full", "1"},
                {"storage", d.storage},
                {"description", markedDescription(d.description, {d.id, d.environment, ""})}};
    auto r = startTask(c, write("POST", qemuPath(d.node, d.templateVmid) + "/clone", std::move(p)), ctx, "clone",
                       d.node, d.vmid, priv, "cloning " + vm + " from template " + std::to_string(d.templateVmid));
    inflightRemove(d.node, *slot);
    return r;
  }
  json st = stateFromConfig(**cfg);
  if (auto lock = beingMade(st); !lock.empty()) return busy(beingMadeMessage(d.vmid, lock), priv);
  Mark m;
  m.resource = st["mark"].value("resource", "");
  m.environment = st["mark"].value("environment", "");
  m.hash = st["mark"].value("hash", "");
  if (m.resource != d.id || (!m.environment.empty() && m.environment != d.environment))
    return failedWith("conflict: " + d.id + ": " + vm + " exists and is not managed by tend (" +
                          (m.resource.empty() ? "no tend mark" : "marked for " + m.resource) + "); not touched",
                      true, priv);
  if (!st.value("lock", "").empty()) return busy(vm + " is locked (" + st.value("lock", "") + ")", priv);

  VmDiff diff = diffVm(d, st);
  // A shrink is refused before anything is sent.
  if (!diff.refusal.empty()) return failedWith(d.id + ": " + diff.refusal, true, priv);

  auto status = call(c, get(qemuPath(d.node, d.vmid) + "/status/current"), ctx);
  if (!status.ok()) return fromError(vm + ": reading its status", status.error, priv);
  bool running = stringField(status.data, "status").value_or("") == "running";

  std::vector<std::string> done;
  Params params = configParams(d, diff, st, m.hash != d.hash);
  if (!params.empty()) {
    auto r = call(c, write("PUT", qemuPath(d.node, d.vmid) + "/config", params), ctx);
    invalidate(d.vmid);
    if (!r.ok()) {
      if (r.error.message.find("checksum mismatch") != std::string::npos)
        return busy(vm + ": its config changed meanwhile (digest); reading it again", priv, seconds(1));
      return fromError(vm + ": config update", r.error, priv);
    }
    std::string fields;
    for (const auto& [k, v] : params)
      if (k != "digest") fields += (fields.empty() ? "" : ",") + k;
    done.push_back("configured (" + fields + ")");
  }
  bool rebootNeeded = false;
  std::string rebootWhy;
  std::vector<std::string> rebootFields;
  for (const auto& ch : diff.changes)
    if (ch.needsReboot) {
      rebootNeeded = true;
      rebootWhy += (rebootWhy.empty() ? "" : ", ") + ch.field;
      rebootFields.push_back(ch.field);
    }
  for (const auto& ch : diff.changes)
    if (ch.field == "disk") {
      std::string key = st["disk"].value("key", "scsi0");
      Params rp = {{"disk", key}, {"size", ch.to}};
      priv["reboot"] = rebootNeeded && running;
      priv["reboot_fields"] = rebootFields;
      return startTask(c, write("PUT", qemuPath(d.node, d.vmid) + "/resize", rp), ctx, "resize", d.node, d.vmid,
                       priv, vm + ": growing " + key + " to " + ch.to);
    }
  if (priv.value("reboot", false)) {
    rebootNeeded = running;
    if (priv.contains("reboot_fields") && priv["reboot_fields"].is_array())
      for (const auto& f : priv["reboot_fields"])
        if (f.is_string()) rebootFields.push_back(f.get<std::string>());
    if (rebootWhy.empty()) rebootWhy = "cloud-init/config changes";
  }
  priv.erase("reboot");
  priv.erase("reboot_fields");
  // A boot (start or reboot) applies what was pending.
  if (doneOp == "reboot" || doneOp == "start") priv.erase("pending_reboot");
  if (!running) {
    priv.erase("pending_reboot");
    return startTask(c, write("POST", qemuPath(d.node, d.vmid) + "/status/start"), ctx, "start", d.node, d.vmid,
                     priv, vm + ": starting");
  }
  bool pending = req.observed && req.observed->state.contains("pending") && !req.observed->state["pending"].empty();
  if (doneOp != "reboot" && (rebootNeeded || pending)) {
    if (d.restartAuto)
      return startTask(c, write("POST", qemuPath(d.node, d.vmid) + "/status/reboot"), ctx, "reboot", d.node,
                       d.vmid, priv, vm + ": rebooting to apply " + (rebootWhy.empty() ? "pending changes" : rebootWhy));
    // restart: manual. What waits for the next boot is remembered with this boot, so it stays
    // visible (and a later switch to auto reboots for it) across passes and tendd restarts.
    if (!rebootFields.empty()) {
      int64_t boot = bootEpoch(intField(status.data, "uptime").value_or(0));
      std::set<std::string> fields(rebootFields.begin(), rebootFields.end());
      if (priv.contains("pending_reboot") &&
          std::llabs(priv["pending_reboot"].value("boot", int64_t{0}) - boot) <= kSameBootSlack)
        for (const auto& f : priv["pending_reboot"].value("fields", json::array()))
          if (f.is_string()) fields.insert(f.get<std::string>());
      priv["pending_reboot"] = {{"boot", boot}, {"fields", fields}};
    }
    std::string what = rebootWhy;
    if (what.empty() && req.observed)
      for (const auto& p : req.observed->state["pending"]) what += (what.empty() ? "" : ", ") + p.get<std::string>();
    done.push_back("changes pending a reboot (" + (what.empty() ? "pending" : what) + "; restart: manual)");
  }
  if (!doneOp.empty()) done.insert(done.begin(), opWords(doneOp) + " done");
  std::string summary;
  for (const auto& s : done) summary += (summary.empty() ? "" : "; ") + s;
  if (summary.empty()) summary = "up to date";
  // Ready waits for the guest agent to report the VM's address (asked once here; observe
  // keeps asking, bounded by agent_timeout).
  if (d.agent && !d.expectedIp.empty()) {
    int64_t up = intField(status.data, "uptime").value_or(0);
    if (!agentKnown(d.vmid, d.expectedIp, up)) {
      auto r = call(c, get(qemuPath(d.node, d.vmid) + "/agent/network-get-interfaces"), ctx);
      std::string why = agentReports(r, d.expectedIp);
      if (!why.empty())
        return progressing(summary + "; waiting for the guest agent to report " + d.expectedIp + " (" + why + ")",
                           priv, seconds(2));
      agentConfirmed(d.vmid, d.expectedIp, up);
    }
  }
  return okWith(summary, priv);
}

ApplyResponse ProxmoxProvider::applyTemplate(const ApplyRequest& req, const DesiredVm& d, Client& c) {
  const CallContext& ctx = req.ctx;
  json priv = req.privateData.is_object() ? req.privateData : json::object();
  std::string doneOp;
  if (auto r = followTask(c, priv, ctx, doneOp)) return *r;
  if (doneOp == "download") priv["downloaded"] = d.imageStorage + ":import/" + imageFileName(d);
  const std::string vm = "template " + std::to_string(d.vmid);
  std::string unverified = d.sha256.empty() ? " (image not verified: the spec gives no sha256)" : "";

  auto cfg = readConfig(c, d.node, d.vmid, ctx);
  if (!cfg) return failedWith(vm + ": " + cfg.error().message, cfg.error().terminal, priv);
  if (cfg->has_value()) {
    json st = stateFromConfig(**cfg);
    if (auto lock = beingMade(st); !lock.empty()) return busy(beingMadeMessage(d.vmid, lock), priv);
    std::string mres = st["mark"].value("resource", ""), menv = st["mark"].value("environment", "");
    if (mres != d.id || (!menv.empty() && menv != d.environment))
      return failedWith("conflict: " + d.id + ": VM " + std::to_string(d.vmid) +
                            " exists and is not managed by tend; not touched",
                        true, priv);
    if (!st.value("lock", "").empty()) return busy(vm + " is locked (" + st.value("lock", "") + ")", priv);
    if (!st.value("template", false)) {
      // The template's `disk`: the imported image grows to it before the conversion, so every
      // clone starts at that size (a clone keeps its template's disk size).
      if (d.diskBytes && st.contains("disk") && st["disk"]["bytes"].is_number_unsigned()) {
        std::string key = st["disk"].value("key", "scsi0");
        auto r = planDiskResize(key, st["disk"]["bytes"].get<uint64_t>(), *d.diskBytes);
        if (r.kind == DiskResize::Kind::Shrink)
          return failedWith(d.id + ": " + r.message + " (the cloud image is larger than the template's disk)", true,
                            priv);
        if (r.kind == DiskResize::Kind::Grow)
          return startTask(c, write("PUT", qemuPath(d.node, d.vmid) + "/resize", {{"disk", key}, {"size", r.size}}),
                           ctx, "resize", d.node, d.vmid, priv, vm + ": growing " + key + " to " + r.size);
      }
      return startTask(c, write("POST", qemuPath(d.node, d.vmid) + "/template"), ctx, "template", d.node, d.vmid,
                       priv, vm + ": converting to a template");
    }
    if (st["mark"].value("hash", "") != d.hash) {
      Params p = {{"description", markedDescription(d.description, {d.id, d.environment, d.hash})}};
      if (!st.value("digest", "").empty()) p.emplace_back("digest", st.value("digest", ""));
      auto r = call(c, write("PUT", qemuPath(d.node, d.vmid) + "/config", p), ctx);
      invalidate(d.vmid);
      if (!r.ok()) return fromError(vm + ": recording the spec hash", r.error, priv);
      priv.erase("downloaded");
      return okWith(doneOp.empty() ? vm + " exists; image, cores and memory changes apply when it is rebuilt "
                                          "(delete it to rebuild)"
                                   : vm + " built" + unverified,
                    priv);
    }
    priv.erase("downloaded");
    return okWith(doneOp.empty() ? vm + " exists" : vm + " built" + unverified, priv);
  }
  if (d.imageUrl.empty()) return failedWith(d.id + ": image_url is required to build the template", true, priv);
  std::string why;
  auto slot = reserveSlot(d.node, why);
  if (!slot) return busy(why, priv, seconds(1));
  struct Release {
    ProxmoxProvider* self;
    std::string node, token;
    ~Release() { self->inflightRemove(node, token); }
  } release{this, d.node, *slot};
  std::string file = imageFileName(d);
  if (!priv.contains("downloaded")) {
    Params p = {{"content", "import"}, {"filename", file}, {"url", d.imageUrl}};
    if (!d.sha256.empty()) {
      p.emplace_back("checksum", d.sha256);
      p.emplace_back("checksum-algorithm", "sha256");
    }
    Request r = write("POST", "/nodes/" + pathSegment(d.node) + "/storage/" + pathSegment(d.imageStorage) +
                                  "/download-url",
                      p);
    auto resp = call(c, r, ctx);
    if (!resp.ok() && resp.error.message.find("refusing to override existing file") != std::string::npos) {
      priv["downloaded"] = d.imageStorage + ":import/" + file;  // fetched by an earlier pass
    } else if (!resp.ok()) {
      return fromError(d.id + ": download of " + d.imageUrl, resp.error, priv);
    } else {
      std::string upid = resp.data.is_string() ? resp.data.get<std::string>() : "";
      priv["task"] = {{"upid", upid}, {"op", "download"}, {"node", d.node}, {"vmid", d.vmid}};
      inflightAdd(d.node, upid);
      return progressing(d.id + ": downloading " + d.imageUrl + unverified + " (task " + upid + ")", priv);
    }
  }
  Params p = {{"vmid", std::to_string(d.vmid)},
              {"name", d.name},
              {"cores", std::to_string(d.cores)},
              {"memory", std::to_string(d.memoryMiB)},
              {"ostype", "l26"},
              {"scsihw", "virtio-scsi-pci"},
              {"scsi0", d.storage + ":0,import-from=" + priv.value("downloaded", d.imageStorage + ":import/" + file)},
              {"ide2", d.storage + ":cloudinit"},
              {"boot", "order=scsi0"},
              {"serial0", "socket"},
              {"vga", "serial0"},
              {"net0", "virtio,bridge=" + d.bridge},
              {"agent", boolParam(d.agent)},
              {"tags", d.tags},
              {"description", markedDescription(d.description, {d.id, d.environment, d.hash})}};
  return startTask(c, write("POST", "/nodes/" + pathSegment(d.node) + "/qemu", p), ctx, "create", d.node, d.vmid,
                   priv, d.id + ": creating VM " + std::to_string(d.vmid) + " from the image");
}

ApplyResponse ProxmoxProvider::applyDelete(const ApplyRequest& req, Client& c) {
  const CallContext& ctx = req.ctx;
  if (!req.observed || !req.observed->exists) return okWith("absent", json::object());
  const json& ost = req.observed->state;
  int64_t vmid = ost.value("vmid", int64_t{0});
  std::string node = ost.value("node", settings_.node);
  if (!vmid) return failedWith(req.action.id + ": no vmid observed", true);
  const std::string vm = "VM " + std::to_string(vmid);
  // A stop or destroy started by an earlier pass (prune keeps no private data: in memory).
  std::pair<std::string, std::string> task;
  {
    std::lock_guard lk(mu_);
    if (auto it = deleteTasks_.find(vmid); it != deleteTasks_.end()) task = it->second;
  }
  if (!task.first.empty()) {
    json priv = {{"task", {{"upid", task.first}, {"op", task.second}, {"node", node}, {"vmid", vmid}}}};
    std::string doneOp;
    auto r = followTask(c, priv, ctx, doneOp);
    if (r && r->outcome == Outcome::Progressing) return *r;
    std::lock_guard lk(mu_);
    deleteTasks_.erase(vmid);
    if (r) return *r;
  }
  auto cfg = readConfig(c, node, vmid, ctx);
  if (!cfg) return failedWith(vm + ": " + cfg.error().message, cfg.error().terminal);
  if (!cfg->has_value()) {
    invalidate(vmid);
    return okWith(vm + " deleted", json::object());
  }
  json st = stateFromConfig(**cfg);
  // A clone or create of tend's still running (observe claimed it by its recorded task):
  // nothing can be done to a VM before its task ends.
  if (auto lock = beingMade(st); !lock.empty())
    return busy(vm + " is being " + (lock == "clone" ? "cloned" : "created") + " (lock: " + lock +
                "); deleted once that task ends");
  std::string mres = st["mark"].value("resource", "");
  if (mres != req.action.id)
    return failedWith("refusing to delete " + vm + ": not managed by tend as " + req.action.id, true);
  if (!st.value("lock", "").empty()) return busy(vm + " is locked (" + st.value("lock", "") + ")");
  auto status = call(c, get(qemuPath(node, vmid) + "/status/current"), ctx);
  if (!status.ok()) return fromError(vm + ": reading its status", status.error);
  bool running = stringField(status.data, "status").value_or("") == "running";
  Request r = running ? write("POST", qemuPath(node, vmid) + "/status/stop")
                      : write("DELETE", qemuPath(node, vmid), {{"purge", "1"}, {"destroy-unreferenced-disks", "1"}});
  std::string op = running ? "stop" : "destroy";
  auto resp = startTask(c, std::move(r), ctx, op, node, vmid, json::object(), vm + (running ? ": stopping" : ": destroying"));
  if (resp.outcome == Outcome::Progressing && resp.privateData.is_object() && resp.privateData.contains("task")) {
    std::lock_guard lk(mu_);
    deleteTasks_[vmid] = {resp.privateData["task"].value("upid", ""), op};
  }
  resp.privateData = nullptr;
  return resp;
}

}  // namespace

Result<std::unique_ptr<Provider>> makeProxmoxProvider(const ProviderConfig& cfg) {
  json c = cfg.config.is_object() ? cfg.config : json::object();
  // Relative paths are relative to the spec directory.
  auto rel = [&](json& obj, const char* key) {
    if (obj.contains(key) && obj[key].is_string()) {
      std::string p = obj[key];
      if (!p.empty() && p[0] != '/' && !cfg.specDir.empty()) obj[key] = cfg.specDir + "/" + p;
    }
  };
  // reconcile.parallelism.proxmox, passed by the daemon's provider set under a reserved key.
  int parallelism = 0;
  if (auto it = c.find("_reconcile_parallelism"); it != c.end()) {
    parallelism = static_cast<int>(asInt(*it).value_or(0));
    c.erase(it);
  }
  rel(c, "token_secret_file");
  if (c.contains("tls") && c["tls"].is_object()) rel(c["tls"], "ca_file");
  auto s = parseSettings(c);
  if (!s) return s.error();
  return std::unique_ptr<Provider>(new ProxmoxProvider(std::move(*s), cfg.environment, parallelism));
}

}  // namespace tend::proxmox
