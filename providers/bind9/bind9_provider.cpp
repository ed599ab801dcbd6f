// The bind9 provider: zone files per zone and view plus the named.conf.tend fragment, written
// through HostIo with check -> atomic rename -> rndc, never serving a file that failed a check.
#include "providers/bind9/bind9_provider.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/secrets.h"
#include "core/provider_plan.h"
#include "providers/bind9/bind9_internal.h"
#include "providers/bind9/host_io_sessions.h"
#include "providers/bind9/render.h"
#include "providers/bind9/rndc_key.h"
#include "providers/bind9/temp_files.h"

namespace tend::bind9 {

using nlohmann::json;

namespace {

const char* kZonePrefix = ";";
const char* kConfPrefix = "//";

std::string absolutize(const std::string& p, const std::string& base) {
  if (p.empty() || p[0] == '/') return p;
  std::string b = base.empty() ? "." : base;
  std::string rel = p.rfind("./", 0) == 0 ? p.substr(2) : p;
  return b + "/" + rel;
}

std::string dirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

uint32_t utcDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return static_cast<uint32_t>((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

// A DNS server on another machine is reached over the daemon's SSH sessions; a process that
// has none (tendctl, a test) says so in words an operator can act on.
std::string noSessionsMessage(const std::string& server, const std::string& endpoint) {
  return "bind9 server '" + server + "' is reached over SSH (" + endpoint +
         "), and this process has no SSH sessions (only tendd has them)";
}

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

struct ProviderSettings {
  std::string server = "local";
  std::string confDir;
  std::string reload = "rndc";
  RndcSpec rndc;
};

// A target file as apply finds it: tend's header when it exists.
struct Existing {
  bool exists = false;
  FileHeader hd;
};

class Bind9Provider final : public Provider {
 public:
  Bind9Provider(ProviderSettings s, Bind9Options o, std::string stateDir, HostSessions* sessions)
      : settings_(std::move(s)), opts_(std::move(o)), stateDir_(std::move(stateDir)), sessions_(sessions) {
    if (!opts_.clock) opts_.clock = &systemClock_;
    loadSerials();
  }

  std::string name() const override { return "bind9"; }
  std::vector<std::string> kinds() const override { return {"zone", "dnsconf"}; }

  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;

 private:
  struct Target {
    std::string server;
    std::string confDir;
    bool operator<(const Target& o) const {
      return std::tie(server, confDir) < std::tie(o.server, o.confDir);
    }
  };

  // The machine named runs on: this one, unless the resources of `server` carry an ssh://
  // endpoint (providers.bind9.transport; by default whenever providers.ssh is configured).
  Result<HostIo*> hostFor(const std::string& server) {
    if (opts_.hostFor) return opts_.hostFor(server);
    std::lock_guard lk(remoteMu_);
    auto ep = endpoints_.find(server);
    if (ep == endpoints_.end()) {
      // None of its resources seen yet (the provider's own server when the spec has no DNS
      // left): "local" is this machine; any other name is not guessed.
      if (server == "local" || server.empty()) return local_.get();
      return makeError("bind9 server '" + server + "': none of its resources seen yet");
    }
    if (ep->second.empty()) return local_.get();
    if (!sessions_) return makeError(noSessionsMessage(server, ep->second), true);
    auto& io = remote_[ep->second];
    if (!io) {
      auto addr = parseSshEndpoint(ep->second);
      if (!addr) return addr.error();
      io = makeSessionsHostIo(*sessions_, *addr);
    }
    return io.get();
  }

  // Remembers where `server` is reached (its resources' endpoint; none = this machine), for
  // calls that have no desired resource at hand (a prune, the server's own listing).
  void learnEndpoint(const json& spec) {
    std::string ep;
    if (auto it = spec.find("endpoint"); it != spec.end() && it->is_string()) ep = it->get<std::string>();
    std::lock_guard lk(remoteMu_);
    endpoints_[serverOf(spec)] = ep;
  }

  std::string serverOf(const json& spec) const {
    auto it = spec.find("server");
    if (it != spec.end() && it->is_string() && !it->get<std::string>().empty())
      return it->get<std::string>();
    return settings_.server;
  }

  // wantHash: the desired hash when known; the record list (for plan diffs) is only parsed
  // when the file's hash differs, which keeps a no-op pass cheap.
  void observeFile(HostIo& io, const std::string& path, const char* prefix, bool isZone,
                   const std::string& wantHash, ObservedResource& o, std::string& err);
  ApplyResponse applyZone(const ApplyRequest& req);
  ApplyResponse applyConf(const ApplyRequest& req);
  ApplyResponse deleteFile(const ApplyRequest& req);
  // The host of `server` ("" = the provider's) and the target file as it is there, owned by
  // `id` or absent; an error when unreachable or when the file is someone else's.
  struct Opened {
    HostIo* io = nullptr;
    Existing current;
  };
  Result<Opened> openTarget(const std::string& server, const std::string& file, const char* prefix,
                            const std::string& id);
  // After `rndc reload`: waits until named serves `serial`. "" when it does (or named cannot
  // be asked), else why not, with named's own words from its log when they can be found.
  std::string awaitLoaded(HostIo& io, const ZoneSpec& z, uint32_t serial,
                          const std::optional<uint64_t>& logMark,
                          std::chrono::system_clock::time_point reloadAt,
                          const std::string& after = "rndc reload");
  std::optional<uint64_t> namedLogSize(HostIo& io);
  std::vector<std::string> namedReason(HostIo& io, const ZoneSpec& z,
                                       const std::optional<uint64_t>& logMark,
                                       std::chrono::system_clock::time_point reloadAt);
  std::vector<std::string> rndcArgs(const std::optional<RndcSpec>& override) const;
  Result<CommandResult> rndcRun(HostIo& io, const std::optional<RndcSpec>& override,
                                const std::vector<std::string>& cmd);
  // A temp file this process writes: registered before it is created and forgotten once it is
  // renamed or removed, so the sweep of crash leftovers never races a write in flight.
  class Temp {
   public:
    Temp(Bind9Provider& p, std::string path) : p_(p), path_(std::move(path)) {
      std::lock_guard<std::mutex> lk(p_.tempMu_);
      p_.inflight_.insert(path_);
    }
    ~Temp() {
      std::lock_guard<std::mutex> lk(p_.tempMu_);
      p_.inflight_.erase(path_);
    }
    Temp(const Temp&) = delete;
    Temp& operator=(const Temp&) = delete;
    const std::string& path() const { return path_; }

   private:
    Bind9Provider& p_;
    std::string path_;
  };
  std::string nextTempPath(const std::string& target) {
    return tempFileName(target, ::getpid(), tempCounter_.fetch_add(1));
  }
  // Removes temp files an interrupted write left in `dir` (entries from its listing).
  void sweepTemps(HostIo& io, const std::string& confDir, const std::string& dir,
                  const std::vector<DirEntry>& entries);
  std::chrono::milliseconds staleTempAge() const {
    return opts_.staleTempAge.count() > 0 ? opts_.staleTempAge : 4 * opts_.commandTimeout;
  }

  // Serial state: id -> last serial written. Survives restarts next to the zone files' own SOA.
  void loadSerials();
  std::optional<uint32_t> stateSerial(const std::string& id);

  ProviderSettings settings_;
  Bind9Options opts_;
  std::string stateDir_;
  SystemClock systemClock_;
  std::unique_ptr<HostIo> local_ = makeLocalHostIo();
  HostSessions* sessions_ = nullptr;
  std::mutex remoteMu_;
  std::map<std::string, std::string> endpoints_;             // server -> ssh:// endpoint ("" = local)
  std::map<std::string, std::unique_ptr<HostIo>> remote_;    // by endpoint
  std::mutex serialsMu_;
  std::map<std::string, uint32_t> serials_;
  std::atomic<uint64_t> tempCounter_{0};
  std::mutex tempMu_;
  std::set<std::string> inflight_;

  // Zone checks, grouped (group commit): while one check runs, zones applied concurrently
  // queue up and are checked together by the next run. One zone -> named-checkzone; several
  // -> one named-checkconf -z over a throwaway conf with one view per zone (the same loader
  // checks named applies). Process start-up dominates the cost, so 10 zones cost ~2 runs.
  struct CheckItem {
    std::string zone, file;
    bool done = false, ok = false;
    std::string tool, message;
  };
  struct CheckQueue {
    bool running = false;
    std::vector<std::shared_ptr<CheckItem>> pending;
  };
  struct CheckOutcome {
    bool ok = false;
    std::string tool, message;
  };
  CheckOutcome checkZone(HostIo& io, const std::string& zone, const std::string& file);
  void runChecks(HostIo& io, const std::vector<std::shared_ptr<CheckItem>>& batch);
  std::mutex checkMu_;
  std::condition_variable checkCv_;
  std::map<HostIo*, CheckQueue> checkQueues_;
};

// ---------------------------------------------------------------------------------------------
// serial state

void Bind9Provider::loadSerials() {
  if (stateDir_.empty()) return;
  std::ifstream in(stateDir_ + "/bind9-serials.json");
  if (!in) return;
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    log::warn("bind9: ignoring unreadable serial state",
              {{"file", stateDir_ + "/bind9-serials.json"}});
    return;
  }
  for (const auto& [k, v] : j.items())
    if (v.is_number_unsigned()) serials_[k] = v.get<uint32_t>();
}

std::optional<uint32_t> Bind9Provider::stateSerial(const std::string& id) {
  std::lock_guard<std::mutex> lk(serialsMu_);
  auto it = serials_.find(id);
  if (it == serials_.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------------------------
// observe

void Bind9Provider::observeFile(HostIo& io, const std::string& path, const char* prefix,
                                bool isZone, const std::string& wantHash, ObservedResource& o,
                                std::string& err) {
  auto text = io.readFile(path);
  if (!text) {
    err = text.error().message;
    return;
  }
  o.state["file"] = path;
  if (!text->has_value()) {
    o.exists = false;
    o.message = "absent";
    return;
  }
  o.exists = true;
  FileHeader h = parseHeader(**text, prefix);
  o.owned = h.owned;
  if (!h.owned) {
    o.message = "file without tend's mark";
    return;
  }
  o.appliedHash = h.hash;
  o.ready = h.intact;
  o.state["intact"] = h.intact;
  o.state["owner_id"] = h.id;
  o.message = h.intact ? "written by tend" : "edited by hand";
  if (isZone) {
    if (auto s = parseSoaSerial(h.rest)) {
      o.state["serial"] = *s;
      o.message += ", serial " + std::to_string(*s);
    }
    if (h.hash != wantHash) o.state["records"] = parseRecordKeys(h.rest);
  }
}

ObserveResponse Bind9Provider::observe(const ObserveRequest& req) {
  ObserveResponse resp;
  // Group by (server, conf_dir): one listing of <conf_dir>/zones per server per pass.
  std::map<Target, std::vector<const DesiredResource*>> groups;
  if (!settings_.confDir.empty()) groups[{settings_.server, settings_.confDir}];
  for (const DesiredResource* d : req.desired) {
    if (!d) continue;
    auto it = d->spec.find("conf_dir");
    std::string confDir = it != d->spec.end() && it->is_string() ? it->get<std::string>() : "";
    while (confDir.size() > 1 && confDir.back() == '/') confDir.pop_back();
    if (confDir.empty() || confDir[0] != '/') {
      resp.errors[d->id] = makeError(d->id + ": conf_dir must be an absolute path", true);
      continue;
    }
    learnEndpoint(d->spec);
    groups[{serverOf(d->spec), confDir}].push_back(d);
  }

  for (auto& [target, desired] : groups) {
    auto io = hostFor(target.server);
    if (!io) {
      for (const auto* d : desired) resp.errors[d->id] = io.error();
      continue;
    }
    HostIo& h = **io;
    // path -> exists, from the listing (cheap), so absent files cost no read.
    std::set<std::string> zoneFiles;
    std::string zonesDir = target.confDir + "/zones";
    auto views = h.listDir(zonesDir);
    if (!views) {
      for (const auto* d : desired) resp.errors[d->id] = views.error();
      continue;
    }
    for (const auto& v : *views) {
      if (!v.isDir) continue;
      auto files = h.listDir(zonesDir + "/" + v.name);
      if (!files) {
        for (const auto* d : desired) resp.errors[d->id] = files.error();
        continue;
      }
      for (const auto& f : *files)
        if (!f.isDir && f.name.size() > 5 && f.name.compare(f.name.size() - 5, 5, ".zone") == 0 &&
            f.name[0] != '.')
          zoneFiles.insert(zonesDir + "/" + v.name + "/" + f.name);
      sweepTemps(h, target.confDir, zonesDir + "/" + v.name, *files);
    }
    // The fragment's temp files live in conf_dir itself. A listing error there is left to the
    // fragment's own read below.
    if (auto top = h.listDir(target.confDir)) sweepTemps(h, target.confDir, target.confDir, *top);

    std::set<std::string> seenFiles;
    for (const auto* d : desired) {
      ObservedResource o;
      o.id = d->id;
      std::string err;
      if (d->kind == "zone") {
        auto zit = d->spec.find("zone");
        auto vit = d->spec.find("view");
        if (zit == d->spec.end() || !zit->is_string() || vit == d->spec.end() ||
            !vit->is_string()) {
          resp.errors[d->id] = makeError(d->id + ": zone payload needs 'zone' and 'view'", true);
          continue;
        }
        std::string z = zit->get<std::string>();
        while (!z.empty() && z.back() == '.') z.pop_back();
        std::string path = zoneFilePath(target.confDir, vit->get<std::string>(), z);
        seenFiles.insert(path);
        if (!zoneFiles.count(path)) {
          o.state["file"] = path;
          o.message = "absent";
        } else {
          observeFile(h, path, kZonePrefix, true, d->hash, o, err);
        }
      } else if (d->kind == "dnsconf") {
        observeFile(h, confFilePath(target.confDir), kConfPrefix, false, d->hash, o, err);
        seenFiles.insert(confFilePath(target.confDir));
      } else {
        resp.errors[d->id] = makeError("bind9 does not manage kind '" + d->kind + "'", true);
        continue;
      }
      if (!err.empty()) {
        resp.errors[d->id] = makeError(err);
        continue;
      }
      if (o.exists) resp.observed[d->id] = std::move(o);
    }

    if (!req.includeOwned) continue;
    // Owned files nobody desires any more: their id comes from the header mark.
    std::vector<std::pair<std::string, bool>> candidates;
    for (const auto& f : zoneFiles)
      if (!seenFiles.count(f)) candidates.emplace_back(f, true);
    if (!seenFiles.count(confFilePath(target.confDir)))
      candidates.emplace_back(confFilePath(target.confDir), false);
    for (const auto& [path, isZone] : candidates) {
      ObservedResource o;
      std::string err;
      observeFile(h, path, isZone ? kZonePrefix : kConfPrefix, isZone, "", o, err);
      if (!err.empty() || !o.exists || !o.owned) continue;
      std::string id = o.state.value("owner_id", "");
      if (id.empty() || resp.observed.count(id) || resp.errors.count(id)) continue;
      if (isZone ? id.rfind("zone/", 0) != 0 : id.rfind("dnsconf/", 0) != 0) continue;
      o.id = id;
      resp.observed[id] = std::move(o);
    }
  }
  return resp;
}

// ---------------------------------------------------------------------------------------------
// plan (pure)

// Which records a spec change adds and removes, from the keys observe parsed back out of the
// file (only parsed when the hash differs).
void addRecordDiff(const DesiredResource& d, const ObservedResource& o, PlannedAction& a) {
  auto z = parseZoneSpec(d.spec);
  if (!z || !o.state.contains("records")) return;
  auto want = recordKeys(*z);
  std::set<std::string> have, wantSet(want.begin(), want.end());
  for (const auto& r : o.state["records"]) have.insert(r.get<std::string>());
  json added = json::array(), removed = json::array();
  for (const auto& r : want)
    if (!have.count(r)) added.push_back(r);
  for (const auto& r : have)
    if (!wantSet.count(r)) removed.push_back(r);
  if (added.empty() && removed.empty()) return;
  a.diff["records"] = {{"added", added}, {"removed", removed}};
  a.reason =
      "records changed: +" + std::to_string(added.size()) + " -" + std::to_string(removed.size());
}

PlannedAction Bind9Provider::plan(const PlanRequest& req) const {
  PlanWords words;
  words.conflictAction = Action::Noop;
  PlanStart start = startPlan(req, words);
  PlannedAction& a = start.action;
  const DesiredResource* d = req.desired;
  const ObservedResource* o = req.observed;
  std::string what = a.kind == "zone" ? "zone file" : "named.conf.tend";
  switch (start.which) {
    case PlanCase::LeftSpec:
    case PlanCase::Absent:
      return a;
    case PlanCase::Conflict:
      a.reason = "conflict: " + o->state.value("file", what) + " exists without tend's mark";
      return a;
    case PlanCase::SpecChanged:
      if (a.kind == "zone") addRecordDiff(*d, *o, a);
      return a;
    case PlanCase::Unchanged:
      break;
  }
  if (!o->state.value("intact", false)) {
    a.action = Action::Update;
    a.drift = true;
    a.reason = what + " edited by hand";
    return a;
  }
  a.reason = "up to date";
  return a;
}

// ---------------------------------------------------------------------------------------------
// apply

void Bind9Provider::sweepTemps(HostIo& io, const std::string& confDir, const std::string& dir,
                               const std::vector<DirEntry>& entries) {
  for (const auto& e : entries) {
    if (e.isDir) continue;
    auto t = parseTempName(e.name);
    // Each directory holds only its own kind of temp: the fragment's in conf_dir, zones' and
    // batch checks' in the view directories.
    if (!t || (t->target == "named.conf.tend") != (dir == confDir)) continue;
    std::string path = dir + "/" + e.name;
    // The wrapper belongs to the fragment's temp file; the SFTP writer's temp to what it wrote.
    std::string writer = t->inner.empty() ? path : dir + "/" + t->inner;
    const std::string wrap = kCheckWrapperSuffix;
    if (writer.size() > wrap.size() &&
        writer.compare(writer.size() - wrap.size(), wrap.size(), wrap) == 0)
      writer.resize(writer.size() - wrap.size());
    {
      std::lock_guard<std::mutex> lk(tempMu_);
      if (inflight_.count(writer)) continue;
    }
    if (t->pid != ::getpid()) {
      // Another process's temp (a second tend on the same directory may be mid-write): only
      // once it is older than any write can take. The same pid after a restart is ours: what
      // we are not writing right now is a leftover. Wall time, not the injected clock: the
      // comparison is with the file system's mtime.
      auto st = io.stat(path);
      if (!st || !st->has_value()) continue;
      auto nowNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      if (nowNs - (*st)->mtimeNs < std::chrono::nanoseconds(staleTempAge()).count()) continue;
    }
    auto r = io.remove(path);
    if (r)
      log::info("bind9: removed a temp file an interrupted write left behind", {{"file", path}});
    else
      log::warn("bind9: cannot remove a leftover temp file: " + r.error().message);
  }
}

std::vector<std::string> Bind9Provider::rndcArgs(const std::optional<RndcSpec>& override) const {
  const RndcSpec& r = override ? *override : settings_.rndc;
  std::vector<std::string> args{opts_.rndc};
  if (!r.server.empty()) args.insert(args.end(), {"-s", r.server});
  if (r.port > 0) args.insert(args.end(), {"-p", std::to_string(r.port)});
  if (!r.keyFile.empty()) args.insert(args.end(), {"-k", r.keyFile});
  return args;
}

Result<CommandResult> Bind9Provider::rndcRun(HostIo& io, const std::optional<RndcSpec>& override,
                                             const std::vector<std::string>& cmd) {
  const RndcSpec& spec = override ? *override : settings_.rndc;
  if (!spec.keyFile.empty()) {
    // rndc quotes pieces of a key file it cannot parse in its error, which reaches status,
    // events and logs: the file is checked here first, and reported without its content.
    auto text = io.readFile(spec.keyFile);
    if (text && text->has_value()) {
      auto keys = parseRndcKeyFile(**text);
      OPENSSL_cleanse((*text)->data(), (*text)->size());
      if (!keys) return makeError("rndc key_file " + spec.keyFile + " is not a BIND key file: " + keys.error().message);
      for (auto& k : *keys) {
        Redactor::instance().add(k);
        OPENSSL_cleanse(k.data(), k.size());
      }
    }
    // Missing or unreadable: rndc says so itself ("file not found"), quoting nothing.
  }
  auto args = rndcArgs(override);
  args.insert(args.end(), cmd.begin(), cmd.end());
  auto r = io.run(args, opts_.commandTimeout);
  if (r) {
    r->out = Redactor::instance().redact(r->out);
    r->err = Redactor::instance().redact(r->err);
  }
  return r;
}

// named is not running (or not listening for rndc): the checked file stays in place and is
// loaded when named starts. This is how a fresh install bootstraps (named.conf includes the
// fragment tend has yet to write).
bool rndcUnreachable(const CommandResult& r) {
  std::string m = r.message();
  return contains(m, "connect failed") || contains(m, "connection refused") ||
         contains(m, "timed out");
}

ApplyResponse failed(std::string msg, bool terminal = false) {
  return applyFailed(std::move(msg), terminal);
}

// Anything without tend's mark for this very resource is a conflict and never touched.
Result<Existing> readOwned(HostIo& h, const std::string& file, const char* prefix,
                           const std::string& id) {
  auto text = h.readFile(file);
  if (!text) return text.error();
  Existing e;
  if (!text->has_value()) return e;
  e.exists = true;
  e.hd = parseHeader(**text, prefix);
  if (!e.hd.owned) return makeError("conflict: " + file + " exists without tend's mark", true);
  if (e.hd.id != id) return makeError("conflict: " + file + " belongs to " + e.hd.id, true);
  return e;
}

// The checked temp file becomes the target: the previous one stays as <file>.prev (a hard
// link, so the target never goes missing) for putBack().
Result<void> install(HostIo& h, const std::string& tmp, const std::string& file, bool hadPrev) {
  if (hadPrev)
    if (auto ln = h.link(file, file + ".prev"); !ln) return ln;
  return h.rename(tmp, file);
}

// named did not take the new file: the previous one goes back, so what is on disk is what named
// serves and the next pass sees the difference and tries again (a fixed cause then heals
// without a hand).
void putBack(HostIo& h, const std::string& file, bool hadPrev) {
  if (hadPrev)
    h.rename(file + ".prev", file);
  else
    h.remove(file);
}

Result<Bind9Provider::Opened> Bind9Provider::openTarget(const std::string& server,
                                                        const std::string& file, const char* prefix,
                                                        const std::string& id) {
  auto io = hostFor(server.empty() ? settings_.server : server);
  if (!io) return io.error();
  auto current = readOwned(**io, file, prefix, id);
  if (!current) return current.error();
  return Opened{*io, std::move(*current)};
}

ApplyResponse Bind9Provider::deleteFile(const ApplyRequest& req) {
  const ObservedResource* o = req.observed;
  if (!o || !o->exists) {
    ApplyResponse r;
    r.message = "already absent";
    return r;
  }
  std::string path = o->state.value("file", "");
  if (path.empty()) return failed(req.action.id + ": observed without a file path", true);
  std::string server = settings_.server;
  if (req.desired) server = serverOf(req.desired->spec);
  auto io = hostFor(server);
  if (!io) return failed(io.error().message, true);
  HostIo& h = **io;
  // Re-check the mark right before removing: never delete a file tend does not own.
  auto current =
      readOwned(h, path, req.action.kind == "zone" ? kZonePrefix : kConfPrefix, req.action.id);
  if (!current) return failed(current.error().message, current.error().terminal);
  ApplyResponse resp;
  if (!current->exists) {
    resp.message = "already absent";
    return resp;
  }
  for (const std::string& p : {path, path + ".prev", path + ".jnl"}) {
    auto r = h.remove(p);
    if (!r) return failed(r.error().message);
  }
  // A zone leaves named when dnsconf drops its stanza (that update runs `rndc reconfig`).
  resp.message = "removed " + path;
  return resp;
}

Bind9Provider::CheckOutcome Bind9Provider::checkZone(HostIo& io, const std::string& zone,
                                                     const std::string& file) {
  auto item = std::make_shared<CheckItem>();
  item->zone = zone;
  item->file = file;
  std::unique_lock<std::mutex> lk(checkMu_);
  CheckQueue& q = checkQueues_[&io];
  q.pending.push_back(item);
  while (!item->done) {
    if (!q.running) {
      q.running = true;
      // A short gather window so zones applied in the same wave share one run (a process
      // start costs ~20 ms CPU; 2 ms of waiting costs nothing).
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      lk.lock();
      auto batch = std::move(q.pending);
      q.pending.clear();
      lk.unlock();
      runChecks(io, batch);
      lk.lock();
      q.running = false;
      checkCv_.notify_all();
    } else {
      checkCv_.wait(lk);
    }
  }
  return {item->ok, item->tool, item->message};
}

void Bind9Provider::runChecks(HostIo& io, const std::vector<std::shared_ptr<CheckItem>>& batch) {
  auto finish = [&](CheckItem& it, bool ok, std::string tool, std::string msg) {
    std::lock_guard<std::mutex> g(checkMu_);
    it.ok = ok;
    it.tool = std::move(tool);
    it.message = std::move(msg);
    it.done = true;
  };
  if (batch.size() == 1) {
    CheckItem& it = *batch[0];
    auto r = io.run({opts_.namedCheckzone, "-k", "fail", it.zone, it.file}, opts_.commandTimeout);
    if (!r) return finish(it, false, "named-checkzone", r.error().message);
    return finish(it, r->exitCode == 0, "named-checkzone", r->message());
  }
  Temp temp(*this,
            batchCheckConfName(dirOf(batch[0]->file), ::getpid(), tempCounter_.fetch_add(1)));
  const std::string& conf = temp.path();
  std::string text;
  for (size_t i = 0; i < batch.size(); ++i)
    text += "view \"b" + std::to_string(i) + "\" { zone \"" + batch[i]->zone +
            "\" { type primary; file \"" + batch[i]->file + "\"; }; };\n";
  auto wr = io.writeFile(conf, text, 0600);
  Result<CommandResult> r = wr ? io.run({opts_.namedCheckconf, "-z", conf}, opts_.commandTimeout)
                               : Result<CommandResult>(wr.error());
  io.remove(conf);
  if (!r) {
    for (auto& it : batch) finish(*it, false, "named-checkconf", r.error().message);
    return;
  }
  if (r->exitCode == 0) {
    for (auto& it : batch) finish(*it, true, "named-checkconf", "");
    return;
  }
  // Attribute each output line to its zone: load errors name the (unique) temp file, the
  // summary lines start with the view name "b<i>/".
  std::vector<std::string> lines;
  std::istringstream all(r->err + "\n" + r->out);
  for (std::string l; std::getline(all, l);)
    if (!l.empty()) lines.push_back(l);
  bool anyAttributed = false;
  std::vector<std::string> msgs(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string view = "b" + std::to_string(i) + "/";
    std::set<std::string> seen;
    for (const auto& l : lines) {
      std::string m;
      if (l.rfind(view, 0) == 0)
        m = "zone " + l.substr(view.size());
      else if (contains(l, batch[i]->file.c_str()))
        m = l;
      if (m.empty() || !seen.insert(m).second) continue;
      msgs[i] += (msgs[i].empty() ? "" : "\n") + m;
    }
    anyAttributed = anyAttributed || !msgs[i].empty();
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!anyAttributed)
      finish(*batch[i], false, "named-checkconf", r->message());
    else
      finish(*batch[i], msgs[i].empty(), "named-checkconf", msgs[i]);
  }
}

ApplyResponse Bind9Provider::applyZone(const ApplyRequest& req) {
  const DesiredResource& d = *req.desired;
  // Record values may name secrets (e.g. a DKIM key kept in SOPS): substituted here, at the
  // last moment, into a copy; the hash and every message stay symbolic.
  json spec = d.spec;
  bool substituted = false;
  if (auto rit = spec.find("records"); rit != spec.end() && rit->is_array()) {
    for (auto& r : *rit) {
      auto v = r.find("value");
      if (v == r.end()) continue;
      auto subst = [&](json& x) -> std::optional<std::string> {
        if (!x.is_string() || x.get<std::string>().find("${secret:") == std::string::npos)
          return std::nullopt;
        if (!req.ctx.secrets)
          return d.id + ": record " + r.value("name", "") + " needs secrets, none available";
        auto val = substituteSecrets(x.get<std::string>(), *req.ctx.secrets);
        if (!val) return d.id + ": " + val.error().message;
        x = val->reveal();
        substituted = true;
        return std::nullopt;
      };
      if (v->is_array()) {
        for (auto& x : *v)
          if (auto e = subst(x)) return failed(*e, true);
      } else if (auto e = subst(*v)) {
        return failed(*e, true);
      }
    }
  }
  auto parsed = parseZoneSpec(spec);
  if (!parsed && substituted) {
    // The parser quotes the offending value; with a secret in it, say less.
    auto symbolic = parseZoneSpec(d.spec);
    return failed(
        symbolic ? d.id + ": a record built from a secret is invalid" : symbolic.error().message,
        true);
  }
  if (!parsed) return failed(parsed.error().message, true);
  const ZoneSpec& z = *parsed;
  auto target = openTarget(z.server, z.file, kZonePrefix, d.id);
  if (!target) return failed(target.error().message, target.error().terminal);
  HostIo& h = *target->io;
  const FileHeader& hd = target->current.hd;
  bool hadPrev = target->current.exists;
  std::optional<uint32_t> fileSerial;
  if (hadPrev) fileSerial = parseSoaSerial(hd.rest);
  std::string bodyHash = sha256Hex(renderZoneBody(z, 0));
  if (hd.intact && hd.hash == d.hash && hd.body == bodyHash) {
    ApplyResponse r;
    r.message = "up to date";
    if (fileSerial) r.privateData = {{"serial", *fileSerial}, {"file", z.file}};
    return r;
  }
  // The old serial: the file's own SOA and the serial kept in the private data tend stores
  // with the zone, whichever is later in serial space (the file may have been deleted by hand;
  // the state may have been lost). A side file written by earlier versions is still read.
  std::optional<uint32_t> old = fileSerial;
  if (req.privateData.is_object()) {
    auto it = req.privateData.find("serial");
    if (it != req.privateData.end() && it->is_number_unsigned()) {
      auto s = it->get<uint32_t>();
      old = old ? serialMax(*old, s) : s;
    }
  }
  if (auto s = stateSerial(d.id)) old = old ? serialMax(*old, *s) : *s;
  // Same content for named (only the spec hash moved, e.g. a record reordered): keep the serial.
  bool contentSame = hd.intact && hd.body == bodyHash && fileSerial.has_value();
  uint32_t serial = contentSame ? *fileSerial : nextSerial(old, utcDate(opts_.clock->wallNow()));
  std::string text = composeFile(kZonePrefix, d.id, d.hash, bodyHash, renderZoneBody(z, serial));

  if (req.ctx.isCancelled()) return failed("cancelled");
  auto mk = h.makeDirs(dirOf(z.file), 0755);
  if (!mk) return failed(mk.error().message);
  Temp temp(*this, nextTempPath(z.file));
  const std::string& tmp = temp.path();
  auto wr = h.writeFile(tmp, text, 0644);
  if (!wr) {
    h.remove(tmp);
    return failed(wr.error().message);
  }
  auto check = checkZone(h, z.zone, tmp);
  if (!check.ok) {
    std::string msg = check.message;
    h.remove(tmp);
    // The temp name means nothing to the reader; name the real file instead.
    for (size_t p; (p = msg.find(tmp)) != std::string::npos;) msg.replace(p, tmp.size(), z.file);
    return failed(check.tool + " rejected " + z.zone + "@" + z.view + ": " + msg, true);
  }
  if (auto in = install(h, tmp, z.file, hadPrev); !in) {
    h.remove(tmp);
    return failed(in.error().message);
  }
  ApplyResponse resp;
  resp.privateData = {{"serial", serial}, {"file", z.file}};
  resp.message = "serial " + std::to_string(serial);
  if (contentSame || settings_.reload != "rndc") {
    if (!contentSame) resp.message += " (reload: none)";
    return resp;
  }
  auto logMark = namedLogSize(h);
  auto reloadAt = std::chrono::system_clock::now();
  auto rl = rndcRun(h, z.rndc, {"reload", z.zone, "IN", z.view});
  std::string msg = rl ? rl->message() : rl.error().message;
  if (rl && rl->exitCode == 0) {
    // "zone reload queued" is not "loaded": named may still refuse the file (its own options,
    // permissions) after named-checkzone passed. Only the served serial says it worked.
    std::string notLoaded = awaitLoaded(h, z, serial, logMark, reloadAt);
    if (notLoaded.empty()) {
      resp.message += ", " + msg;
      return resp;
    }
    putBack(h, z.file, hadPrev);
    return failed(notLoaded + (hadPrev ? " (previous file put back)" : ""));
  }
  // A zone (or its whole view) named has not heard of yet: the dnsconf resource's reconfig,
  // which runs after the zones, loads it. On first start named has tend's bootstrap fragment
  // and no views at all, hence "no matching view".
  if (rl && (contains(msg, "no matching zone") || contains(msg, "no matching view"))) {
    resp.message += ", named does not serve it yet (dnsconf's reconfig loads it)";
    return resp;
  }
  if (rl && rndcUnreachable(*rl)) {
    resp.message += ", named not reachable (" + msg + "); loaded when named starts";
    return resp;
  }
  putBack(h, z.file, hadPrev);
  return failed("rndc reload " + z.zone + " IN " + z.view + " failed: " + msg);
}

std::optional<uint64_t> Bind9Provider::namedLogSize(HostIo& io) {
  if (opts_.namedLog.empty()) return std::nullopt;
  auto st = io.stat(opts_.namedLog);
  if (!st || !st->has_value()) return std::nullopt;
  return (*st)->size;
}

std::vector<std::string> Bind9Provider::namedReason(
    HostIo& io, const ZoneSpec& z, const std::optional<uint64_t>& logMark,
    std::chrono::system_clock::time_point reloadAt) {
  // Only what named logged since the reload: an old failure must not explain a new one.
  std::vector<std::string> cmd;
  if (!opts_.namedLog.empty()) {
    cmd = {"tail", "-c", "+" + std::to_string(logMark.value_or(0) + 1), opts_.namedLog};
  } else {
    auto since = std::chrono::duration_cast<std::chrono::seconds>(reloadAt.time_since_epoch());
    cmd = {"journalctl",
           "--no-pager",
           "-q",
           "-o",
           "cat",
           "--since",
           "@" + std::to_string(since.count() - 1),
           "-u",
           "named",
           "-u",
           "bind9"};
  }
  auto out = io.run(cmd, std::chrono::seconds(5));
  if (!out || out->exitCode != 0) return {};
  return namedLogReason(out->out, z.zone, z.view, z.file);
}

std::string Bind9Provider::awaitLoaded(HostIo& io, const ZoneSpec& z, uint32_t serial,
                                       const std::optional<uint64_t>& logMark,
                                       std::chrono::system_clock::time_point reloadAt,
                                       const std::string& after) {
  auto deadline = std::chrono::steady_clock::now() + opts_.loadTimeout;
  auto pause = std::chrono::milliseconds(10);
  std::string seen;
  for (;;) {
    auto st = rndcRun(io, z.rndc, {"zonestatus", z.zone, "IN", z.view});
    if (st && st->exitCode == 0) {
      auto served = parseZoneStatusSerial(st->out);
      if (served && *served == serial) return "";
      seen = served ? "still serves serial " + std::to_string(*served) : "reports no serial";
    } else if (st && rndcUnreachable(*st)) {
      return "";  // named went away after the reload: it reads the checked file when it starts
    } else {
      seen = "rndc zonestatus: " + (st ? st->message() : st.error().message);
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, left));
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  std::string msg = "named did not load serial " + std::to_string(serial) + " of " + z.zone + "@" +
                    z.view + " after " + after + " (" + seen + ")";
  auto why = namedReason(io, z, logMark, reloadAt);
  if (why.empty()) return msg + "; named's log has the reason";
  msg += ": named says: ";
  for (size_t i = 0; i < why.size(); ++i) msg += (i ? "; " : "") + why[i];
  return msg;
}

ApplyResponse Bind9Provider::applyConf(const ApplyRequest& req) {
  const DesiredResource& d = *req.desired;
  auto parsed = parseConfSpec(d.spec);
  if (!parsed) return failed(parsed.error().message, true);
  const ConfSpec& c = *parsed;
  auto target = openTarget(c.server, c.file, kConfPrefix, d.id);
  if (!target) return failed(target.error().message, target.error().terminal);
  HostIo& h = *target->io;
  const FileHeader& hd = target->current.hd;
  bool hadPrev = target->current.exists;
  std::string body = renderConfBody(c);
  std::string bodyHash = sha256Hex(body);
  if (hd.intact && hd.hash == d.hash && hd.body == bodyHash) {
    ApplyResponse r;
    r.message = "up to date";
    return r;
  }
  bool contentSame = hd.intact && hd.body == bodyHash;
  std::string text = composeFile(kConfPrefix, d.id, d.hash, bodyHash, body);
  if (req.ctx.isCancelled()) return failed("cancelled");

  auto mk = h.makeDirs(c.confDir, 0755);
  if (!mk) return failed(mk.error().message);
  // Secondary zones need a writable directory per view (named writes the transferred copy).
  for (const auto& s : c.secondaries)
    for (const auto& v : c.views)
      if (s.views.empty() ? &v == &c.views.front()
                          : std::find(s.views.begin(), s.views.end(), v.name) != s.views.end()) {
        auto r = h.makeDirs(c.secondaryDir + "/" + v.name, 0775);
        if (!r) return failed(r.error().message);
      }

  Temp temp(*this, nextTempPath(c.file));
  const std::string& tmp = temp.path();
  std::string wrapper = tmp + kCheckWrapperSuffix;
  auto cleanup = [&] {
    h.remove(tmp);
    h.remove(wrapper);
  };
  auto wr = h.writeFile(tmp, text, 0644);
  if (wr) wr = h.writeFile(wrapper, "include \"" + tmp + "\";\n", 0644);
  if (!wr) {
    cleanup();
    return failed(wr.error().message);
  }
  // -z test-loads every primary zone the fragment names: a missing or broken zone file stops
  // the fragment here instead of at named's reconfig.
  auto check = h.run({opts_.namedCheckconf, "-z", wrapper}, opts_.commandTimeout);
  if (!check || check->exitCode != 0) {
    std::string msg = check ? check->message() : check.error().message;
    cleanup();
    for (size_t p; (p = msg.find(tmp)) != std::string::npos;) msg.replace(p, tmp.size(), c.file);
    return failed("named-checkconf rejected " + c.file + ": " + msg, true);
  }
  h.remove(wrapper);
  if (auto in = install(h, tmp, c.file, hadPrev); !in) {
    cleanup();
    return failed(in.error().message);
  }
  ApplyResponse resp;
  resp.message = "written " + c.file;
  if (contentSame || settings_.reload != "rndc") return resp;
  // Zone stanzas this fragment adds: reconfig loads them, asynchronously like a reload.
  std::vector<ZoneSpec> added;
  for (const auto& v : c.views)
    for (const auto& zn : v.zones) {
      ZoneSpec z;
      z.zone = zn;
      z.view = v.name;
      z.file = zoneFilePath(c.confDir, v.name, zn);
      z.rndc = c.rndc;
      if (!hadPrev || hd.rest.find("file \"" + z.file + "\";") == std::string::npos)
        added.push_back(std::move(z));
    }
  auto logMark = namedLogSize(h);
  auto reloadAt = std::chrono::system_clock::now();
  auto rl = rndcRun(h, c.rndc, {"reconfig"});
  if (rl && rl->exitCode == 0) {
    for (const auto& z : added) {
      auto zt = h.readFile(z.file);
      if (!zt || !zt->has_value()) continue;  // named-checkconf -z saw it; gone since: next pass
      auto serial = parseSoaSerial(parseHeader(**zt, kZonePrefix).rest);
      if (!serial) continue;
      std::string notLoaded = awaitLoaded(h, z, *serial, logMark, reloadAt, "rndc reconfig");
      if (notLoaded.empty()) continue;
      // The previous fragment goes back (and named forgets the zone again): the next pass
      // retries until the cause is fixed.
      putBack(h, c.file, hadPrev);
      if (hadPrev) rndcRun(h, c.rndc, {"reconfig"});
      return failed(notLoaded + (hadPrev ? " (previous fragment put back)" : ""));
    }
    resp.message += ", named reconfigured";
    return resp;
  }
  std::string msg = rl ? rl->message() : rl.error().message;
  if (rl && rndcUnreachable(*rl)) {
    resp.message += ", named not reachable (" + msg + "); read when named starts";
    return resp;
  }
  putBack(h, c.file, hadPrev);
  return failed("rndc reconfig failed: " + msg);
}

ApplyResponse Bind9Provider::apply(const ApplyRequest& req) {
  const std::string& kind = req.action.kind.empty() ? kindOfId(req.action.id) : req.action.kind;
  if (req.action.conflict) return failed("conflict: " + req.action.reason, true);
  switch (req.action.action) {
    case Action::Noop: {
      ApplyResponse r;
      r.message = "up to date";
      return r;
    }
    case Action::Delete: {
      ApplyRequest copy = req;
      copy.action.kind = kind;
      return deleteFile(copy);
    }
    case Action::Create:
    case Action::Update:
    case Action::Replace:
      break;
  }
  if (!req.desired) return failed(req.action.id + ": nothing desired to apply", true);
  learnEndpoint(req.desired->spec);
  if (kind == "zone") return applyZone(req);
  if (kind == "dnsconf") return applyConf(req);
  return failed("bind9 does not manage kind '" + kind + "'", true);
}

}  // namespace

Result<std::unique_ptr<Provider>> makeBind9ProviderWith(const ProviderConfig& cfg,
                                                        Bind9Options opts) {
  ProviderSettings s;
  s.confDir = "/etc/bind";
  const json& c = cfg.config;
  if (!c.is_null() && !c.is_object()) return makeError("providers.bind9 must be a mapping", true);
  if (c.is_object()) {
    if (auto it = c.find("server"); it != c.end() && it->is_string())
      s.server = it->get<std::string>();
    if (auto it = c.find("conf_dir"); it != c.end() && it->is_string())
      s.confDir = absolutize(it->get<std::string>(), cfg.specDir);
    while (s.confDir.size() > 1 && s.confDir.back() == '/') s.confDir.pop_back();
    if (auto it = c.find("reload"); it != c.end() && it->is_string())
      s.reload = it->get<std::string>();
    if (s.reload != "rndc" && s.reload != "none")
      return makeError("providers.bind9.reload must be rndc or none", true);
    // Same defaults as spec expansion puts into the dnsconf payload, so zone reloads and the
    // fragment's reconfig talk to the same named.
    s.rndc = {"127.0.0.1", 953, s.confDir + "/rndc.key"};
    if (auto it = c.find("rndc"); it != c.end() && it->is_object()) {
      s.rndc.server = it->value("server", s.rndc.server);
      if (auto p = it->find("port"); p != it->end() && p->is_number_integer())
        s.rndc.port = p->get<int>();
      if (auto k = it->find("key_file"); k != it->end() && k->is_string())
        s.rndc.keyFile = absolutize(k->get<std::string>(), cfg.specDir);
    }
  }
  return std::unique_ptr<Provider>(new Bind9Provider(std::move(s), std::move(opts), cfg.stateDir, cfg.hostSessions));
}

Result<std::unique_ptr<Provider>> makeBind9Provider(const ProviderConfig& cfg) {
  return makeBind9ProviderWith(cfg, Bind9Options{});
}

}  // namespace tend::bind9
