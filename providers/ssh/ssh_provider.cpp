#include "providers/ssh/ssh_provider.h"

#include <fstream>
#include <sstream>

#include "core/hash.h"
#include "core/log.h"

namespace tend::ssh {
namespace {

using json = nlohmann::json;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == '\n' || s[i] == ' ')) ++i;
  return s.substr(i);
}

// What a user wants to read of a failed command: apt's "E:" lines, else the last lines.
std::string failureText(const ExecResult& r) {
  std::string err = trimmed(r.err.empty() ? r.out : r.err);
  std::istringstream is(err);
  std::string line, eLines;
  std::vector<std::string> lines;
  bool unmet = false;
  while (std::getline(is, line)) {
    if (line.rfind("E: ", 0) == 0) eLines += (eLines.empty() ? "" : "; ") + line.substr(3);
    // apt names the broken dependency in the lines after this one.
    if (line.find("have unmet dependencies") != std::string::npos) unmet = true;
    else if (unmet && line.rfind(" ", 0) == 0) eLines += (eLines.empty() ? "" : "; ") + trimmed(line);
    else unmet = false;
    if (line.rfind("W: ", 0) != 0 && !line.empty()) lines.push_back(line);
  }
  if (!eLines.empty()) return eLines;
  std::string out;
  for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) out += (out.empty() ? "" : "; ") + lines[i];
  if (out.empty()) out = "exit status " + std::to_string(r.exitStatus);
  return out;
}

std::string hostOfId(const std::string& id) {
  if (id.rfind("host/", 0) != 0) return "";
  auto slash = id.find('/', 5);
  return id.substr(5, slash == std::string::npos ? std::string::npos : slash - 5);
}

std::string factsSummary(const std::map<std::string, std::string>& f) {
  auto get = [&](const char* k) {
    auto it = f.find(k);
    return it == f.end() ? std::string() : it->second;
  };
  std::string s = get("os");
  if (!get("arch").empty()) s += (s.empty() ? "" : ", ") + get("arch");
  if (!get("hostname").empty()) s += (s.empty() ? "" : ", ") + std::string("hostname ") + get("hostname");
  std::string kb = get("disk_free_kb");
  if (!kb.empty() && kb.find_first_not_of("0123456789") == std::string::npos) {
    double gib = std::stod(kb) / (1024.0 * 1024.0);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GiB free on /", gib);
    s += (s.empty() ? "" : ", ") + std::string(buf);
  }
  return s;
}

CallOptions optionsOf(const CallContext& ctx) {
  CallOptions o;
  o.deadline = ctx.deadline;
  o.cancelled = ctx.cancel ? ctx.cancel->flag() : ctx.cancelled;
  return o;
}

}  // namespace

SshProvider::SshProvider(const ProviderConfig& cfg) : cfg_(cfg) {
  reg_ = dynamic_cast<SessionRegistry*>(cfg.hostSessions);
  if (!reg_) {
    own_ = std::make_unique<SessionRegistry>();
    reg_ = own_.get();
  }
  reg_->configure(cfg.config);
}

std::vector<std::string> SshProvider::kinds() const {
  std::vector<std::string> k = {"host"};
  for (const auto& x : hostItemKinds()) k.push_back(x);
  return k;
}

std::vector<ConcurrencyKey> SshProvider::concurrencyKeys(const DesiredResource* desired,
                                                         const PlannedAction& action) const {
  std::string h = desired ? desired->host : hostOfId(action.id);
  if (h.empty()) return {};
  return {{"host/" + h, 1}};
}

Result<std::shared_ptr<HostPool>> SshProvider::poolFor(const std::string& host, const json* spec,
                                                       const CallContext& ctx) {
  std::string address;
  int port = 0;
  if (spec && spec->is_object()) {
    address = spec->value("address", std::string());
    if (spec->contains("ssh_port") && (*spec)["ssh_port"].is_number_integer()) port = (*spec)["ssh_port"].get<int>();
  }
  {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    if (address.empty()) {
      address = hs.address;
      port = hs.port;
    } else {
      hs.address = address;
      hs.port = port;
    }
  }
  if (address.empty()) return makeError("host " + host + ": address unknown (not in the spec)", true);
  return reg_->pool(host, address, port, ctx.secrets);
}

Result<ExecResult> SshProvider::run(HostPool& pool, const std::string& script, const std::string& input,
                                    const CallContext& ctx) {
  bool root = pool.config().user == "root";
  std::string sh = root ? "sh" : "sudo -n sh";
  commands_++;
  if (input.empty()) return pool.exec(sh + " -s", optionsOf(ctx), script);
  return pool.exec(sh + " -c " + shellQuote(script), optionsOf(ctx), input);
}

ObserveResponse SshProvider::observe(const ObserveRequest& req) {
  ObserveResponse resp;
  std::map<std::string, std::vector<const DesiredResource*>> byHost;
  for (const DesiredResource* r : req.desired) byHost[r->host].push_back(r);
  if (byHost.empty() && req.includeOwned) {
    // Owned items without desired ones (prune, adoption): the scope's host, or every host
    // this provider has reached.
    if (!req.scope.empty()) byHost[req.scope];
    else {
      std::lock_guard lk(mu_);
      for (const auto& [h, hs] : hosts_)
        if (!hs.address.empty()) byHost[h];
    }
  }
  for (auto& [host, rs] : byHost) {
    const json* spec = nullptr;
    for (const DesiredResource* r : rs)
      if (r->spec.contains("address")) spec = &r->spec;
    std::optional<Error> fail;
    ProbeResult probe;
    auto pool = poolFor(host, spec, req.ctx);
    if (!pool) {
      fail = pool.error();
    } else {
      std::vector<const DesiredResource*> items;
      for (const DesiredResource* r : rs)
        if (r->kind != "host") items.push_back(r);
      probes_++;
      // A probe reads and answers in well under a second; a host that does not answer within
      // this is down for this pass (a stopped VM keeps its TCP connection half open).
      CallContext pctx = req.ctx;
      pctx.deadline = std::min(req.ctx.deadline, std::chrono::steady_clock::now() + std::chrono::seconds(20));
      auto res = run(**pool, probeScript(items), "", pctx);
      if (!res) fail = res.error();
      else if (res->exitStatus != 0)
        fail = makeError("host " + host + ": probe failed: " + failureText(*res));
      else probe = parseProbe(res->out);
    }
    if (fail) {
      if (byHost.size() == 1) resp.scopeError = fail;
      else
        for (const DesiredResource* r : rs) resp.errors[r->id] = *fail;
      continue;
    }
    std::map<std::string, PendingPackage> pending;
    for (const DesiredResource* r : rs) {
      if (r->kind == "host") {
        ObservedResource o;
        o.id = r->id;
        o.exists = o.owned = o.ready = true;
        o.appliedHash = r->hash;
        o.message = factsSummary(probe.facts);
        o.state = {{"facts", probe.facts}};
        resp.observed[r->id] = std::move(o);
        continue;
      }
      ObservedResource o = observeItem(*r, probe);
      if (r->kind == "package" && !o.ready)
        pending[r->id] = {r->spec.value("name", ""), r->spec.value("state", "present"), r->hash};
      resp.observed[r->id] = std::move(o);
    }
    if (req.includeOwned) {
      for (const auto& [id, rec] : probe.records) {
        if (resp.observed.count(id) || hostOfId(id) != host) continue;
        resp.observed[id] = observeRecord(id, probe);
      }
    }
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    // A new look at the host: what an earlier transaction answered is stale now.
    for (const auto& [id, p] : pending) hs.aptResults.erase(id);
    for (const auto& [id, p] : pending) hs.pendingPackages[id] = p;
    // Restarts owed since an earlier run (also one of another tendd process): the host keeps them.
    for (const auto& [svc, files] : probe.pendingRestarts) hs.restarts[svc].insert(files.begin(), files.end());
    for (const auto& [svc, files] : probe.pendingReloads) hs.reloads[svc].insert(files.begin(), files.end());
  }
  return resp;
}

PlannedAction SshProvider::plan(const PlanRequest& req) const {
  PlannedAction a;
  const DesiredResource* d = req.desired;
  const ObservedResource* o = req.observed;
  a.id = d ? d->id : (o ? o->id : "");
  a.kind = d ? d->kind : "";
  if (a.kind.empty()) {
    std::string h, k, key;
    a.kind = parseItemId(a.id, h, k, key) ? k : kindOfId(a.id);
  }
  if (!d) {
    if (o && o->exists && o->owned) {
      a.action = Action::Delete;
      a.reason = "left the spec";
    }
    return a;
  }
  if (d->kind == "host") return a;  // the machine itself: reached and described, never changed
  if (!o || !o->exists) {
    a.action = Action::Create;
    bool onHost = o && o->state.is_object() && o->state.value("present_on_host", false);
    a.reason = onHost ? "take over (the file there is backed up first)" : "absent";
    if (o && o->state.is_object() && o->state.contains("drift") && !o->state["drift"].empty())
      a.diff = {{"drift", o->state["drift"]}};
    return a;
  }
  if (o->appliedHash != d->hash) {
    a.action = Action::Update;
    a.reason = "spec changed";
    if (d->kind == "file" && d->spec.contains("content") && o->state.contains("sha")) {
      std::string c = d->spec.value("content", "");
      if (c.find("${secret:") == std::string::npos) {
        std::string want = sha256Hex(fileContentWithMark(d->id, d->spec.value("path", ""), c, d->spec));
        if (want != o->state.value("sha", "")) a.diff["content"] = {{"from", "sha256:" + o->state.value("sha", "").substr(0, 12)}, {"to", "sha256:" + want.substr(0, 12)}};
      } else {
        a.diff["content"] = {{"from", "(secret)"}, {"to", "(secret)"}};
      }
    }
    return a;
  }
  if (o->state.is_object() && o->state.contains("drift") && !o->state["drift"].empty()) {
    a.action = Action::Update;
    a.drift = true;
    std::string why;
    for (const auto& x : o->state["drift"]) why += (why.empty() ? "" : "; ") + x.get<std::string>();
    a.reason = "drift: " + why;
    a.diff = {{"drift", o->state["drift"]}};
    return a;
  }
  if (d->kind == "service") {
    std::lock_guard lk(mu_);
    auto hit = hosts_.find(d->host);
    std::string svc = d->spec.value("name", "");
    if (hit != hosts_.end()) {
      auto show = [](const std::set<std::string>& files) {
        std::string s;
        for (const auto& f : files) s += (s.empty() ? "" : ", ") + f;
        return s;
      };
      if (auto r = hit->second.restarts.find(svc); r != hit->second.restarts.end() && !r->second.empty()) {
        a.action = Action::Update;
        a.reason = "restart: " + show(r->second) + " changed";
      } else if (auto l = hit->second.reloads.find(svc); l != hit->second.reloads.end() && !l->second.empty()) {
        a.action = Action::Update;
        a.reason = "reload: " + show(l->second) + " changed";
      }
    }
  }
  return a;
}

ApplyResponse SshProvider::apply(const ApplyRequest& req) {
  ApplyResponse out;
  const DesiredResource* d = req.desired;
  const std::string& id = req.action.id;
  std::string host = d ? d->host : hostOfId(id);
  std::string hk, kind, key;
  if (d) kind = d->kind;
  else if (parseItemId(id, hk, kind, key)) {
  } else kind = kindOfId(id);
  if (kind == "host") {
    out.message = "reachable";
    return out;
  }
  auto pool = poolFor(host, d ? &d->spec : nullptr, req.ctx);
  if (!pool) {
    out.outcome = Outcome::Failed;
    out.message = pool.error().message;
    out.terminal = pool.error().terminal;
    return out;
  }
  out.privateData = {{"address", (*pool)->config().address}, {"port", (*pool)->config().port}};
  if (req.action.action == Action::Noop) {
    out.message = "up to date";
    return out;
  }
  if (req.action.action == Action::Delete || !d) {
    auto r = run(**pool, itemDeleteScript(id, kind, req.observed ? req.observed->state : json()), "", req.ctx);
    if (!r || r->exitStatus != 0) {
      out.outcome = Outcome::Failed;
      out.message = !r ? r.error().message : "delete failed: " + failureText(*r);
      return out;
    }
    out.message = kind == "file" ? "removed (the file found before tend, if any, restored)" : "forgotten";
    return out;
  }
  if (kind == "package") return applyPackage(req, **pool, host);
  if (kind == "file") return applyFile(req, **pool, host);
  bool restart = false, reload = false;
  std::set<std::string> why;
  std::string svc = d->spec.value("name", "");
  if (kind == "service") {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    if (auto it = hs.restarts.find(svc); it != hs.restarts.end() && !it->second.empty()) {
      restart = true;
      why = it->second;
    }
    if (auto it = hs.reloads.find(svc); it != hs.reloads.end() && !it->second.empty()) {
      reload = true;
      why.insert(it->second.begin(), it->second.end());
    }
  }
  std::string script = itemApplyScript(*d, restart, reload);
  if (kind == "service" && (restart || reload)) script += pendingClearScript(svc);  // after `set -e` work succeeded
  if (kind == "command" && script.find("${secret:") != std::string::npos) {
    if (!req.ctx.secrets) {
      out.outcome = Outcome::Failed;
      out.message = "command names a secret but no secrets are loaded";
      out.terminal = true;
      return out;
    }
    auto s = substituteSecrets(script, *req.ctx.secrets);
    if (!s) {
      out.outcome = Outcome::Failed;
      out.message = s.error().message;
      out.terminal = true;
      return out;
    }
    script = s->reveal();
  }
  auto r = run(**pool, script, "", req.ctx);
  if (!r || r->exitStatus != 0) {
    out.outcome = Outcome::Failed;
    out.message = !r ? r.error().message : failureText(*r);
    return out;
  }
  if (kind == "service") {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    hs.restarts.erase(svc);
    hs.reloads.erase(svc);
    std::string files;
    for (const auto& f : why) files += (files.empty() ? "" : ", ") + f;
    out.message = restart ? "restarted (" + files + " changed)" : reload ? "reloaded (" + files + " changed)" : "converged";
    return out;
  }
  out.message = kind == "command" ? "ran" : "converged";
  return out;
}

ApplyResponse SshProvider::applyPackage(const ApplyRequest& req, HostPool& pool, const std::string& host) {
  ApplyResponse out;
  const DesiredResource* d = req.desired;
  std::vector<std::pair<std::string, PendingPackage>> batch;
  {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    if (auto it = hs.aptResults.find(d->id); it != hs.aptResults.end()) {
      auto [ok, msg] = it->second;
      hs.aptResults.erase(it);
      if (!ok) {
        out.outcome = hs.aptBusy ? Outcome::Busy : Outcome::Failed;
        if (hs.aptBusy) out.requeueAfter = std::chrono::seconds(10);
      }
      out.message = msg;
      return out;
    }
    hs.pendingPackages[d->id] = {d->spec.value("name", ""), d->spec.value("state", "present"), d->hash};
    for (auto& [id, p] : hs.pendingPackages) batch.emplace_back(id, p);
    hs.pendingPackages.clear();
  }
  std::vector<std::string> install, latest, remove, names;
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& [id, p] : batch) {
    (p.state == "absent" ? remove : p.state == "latest" ? latest : install).push_back(p.name);
    records.emplace_back(id, p.hash);
    names.push_back(p.name);
  }
  int valid = 3600;
  if (cfg_.config.is_object() && cfg_.config.contains("apt_cache_valid_s") && cfg_.config["apt_cache_valid_s"].is_number())
    valid = static_cast<int>(cfg_.config["apt_cache_valid_s"].get<double>());
  auto r = run(pool, aptScript(install, latest, remove, records, valid), "", req.ctx);
  bool ok = r && r->exitStatus == 0;
  bool busy = r && !ok && isDpkgLockError(r->err + r->out);
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "" : " ") + n;
  std::string msg = ok ? "apt: installed/updated in one transaction with " + std::to_string(names.size() - 1) + " other(s)"
                 : busy ? "busy: the dpkg lock is held by another process (" + failureText(*r) + ")"
                 : !r ? r.error().message
                      : "apt failed (" + all + "): " + failureText(*r);
  if (ok && names.size() == 1) msg = "apt: done";
  {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    hs.aptBusy = busy;
    for (const auto& [id, p] : batch)
      if (id != d->id) hs.aptResults[id] = {ok, msg};
  }
  if (!ok) {
    out.outcome = busy ? Outcome::Busy : Outcome::Failed;
    if (busy) out.requeueAfter = std::chrono::seconds(10);
  }
  out.message = msg;
  return out;
}

ApplyResponse SshProvider::applyFile(const ApplyRequest& req, HostPool& pool, const std::string& host) {
  ApplyResponse out;
  const DesiredResource* d = req.desired;
  const json& j = d->spec;
  std::string content;
  if (j.contains("content") && j["content"].is_string()) {
    content = j["content"].get<std::string>();
  } else if (j.contains("source") && j["source"].is_string()) {
    std::ifstream f(j["source"].get<std::string>(), std::ios::binary);
    if (!f) {
      out.outcome = Outcome::Failed;
      out.message = "cannot read source " + j["source"].get<std::string>();
      return out;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    content = ss.str();
  }
  if (content.find("${secret:") != std::string::npos) {
    if (!req.ctx.secrets) {
      out.outcome = Outcome::Failed;
      out.terminal = true;
      out.message = "the file names a secret but no secrets are loaded";
      return out;
    }
    auto s = substituteSecrets(content, *req.ctx.secrets);
    if (!s) {
      out.outcome = Outcome::Failed;
      out.terminal = true;
      out.message = s.error().message;
      return out;
    }
    content = s->reveal();
  }
  std::string final = fileContentWithMark(d->id, j.value("path", ""), content, j);
  std::string sha = sha256Hex(final);
  bool changed = !req.observed || !req.observed->state.is_object() || req.observed->state.value("sha", "") != sha;
  std::string script = fileApplyScript(*d, sha);
  if (changed && j.contains("on_change") && j["on_change"].is_object())
    // The restart it owes is written on the host in the same script (see kPendingDir).
    for (const char* action : {"restart", "reload"})
      if (j["on_change"].contains(action) && j["on_change"][action].is_string())
        script += pendingMarkScript(action, j["on_change"][action].get<std::string>(), j.value("path", ""));
  auto r = run(pool, script, final, req.ctx);
  if (!r || r->exitStatus != 0) {
    out.outcome = Outcome::Failed;
    out.message = !r ? r.error().message : failureText(*r);
    return out;
  }
  out.message = changed ? "written (sha256:" + sha.substr(0, 12) + ")" : "mode/owner set";
  if (changed && j.contains("on_change") && j["on_change"].is_object()) {
    std::lock_guard lk(mu_);
    auto& hs = hosts_[host];
    const std::string path = j.value("path", "");
    if (j["on_change"].contains("restart")) hs.restarts[j["on_change"]["restart"].get<std::string>()].insert(path);
    if (j["on_change"].contains("reload")) hs.reloads[j["on_change"]["reload"].get<std::string>()].insert(path);
  }
  return out;
}

}  // namespace tend::ssh
