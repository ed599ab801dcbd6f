#pragma once
// The provider boundary (Terraform-style request/response values; no exception crosses it).
//
// Calls are blocking and are always made from the engine's worker pool, never from the
// io_context thread that serves HTTP. SSH wraps blocking libssh, Docker runs its async Beast
// client on its own io_context and waits for the result, BIND9 writes files and execs
// named-checkzone/rndc. Work that takes minutes (a Proxmox clone) is never waited for inside a
// call: apply starts it, keeps the task id in its private data and answers Progressing with
// requeueAfter; the engine hands the private data back on every later call (also after a
// restart: it lives in the state database), so the provider follows the same task.
// Providers never sleep-retry: they return an error (the workqueue backs off) or Busy (a lock
// held by someone else: retried after the given delay, not counted as a failure).
//
// Each call has its own deadline (ctx.deadline: the provider's call timeout) and cancellation
// (ctx.onCancel): a provider blocked in I/O registers a callback that interrupts it.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cancel.h"
#include "core/diagnostic.h"
#include "core/provider_spec.h"
#include "core/resource.h"
#include "core/result.h"
#include "core/secrets.h"

namespace tend {

struct CallContext {
  // This call's deadline (the provider's call timeout from now); past it the engine cancels.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;  // polled flag (may be null)
  // Cancellation of this call (SIGTERM, deadline, engine shutdown); may be null.
  std::shared_ptr<const CancelSignal> cancel;
  const SecretResolver* secrets = nullptr;       // may be null (validate/plan offline)
  std::string environment;                       // value of io.tend.environment marks
  // Progress lines (image pull progress, task status) -> logs and events. Already redacted?
  // No: the engine redacts before recording.
  std::function<void(const std::string& id, const std::string& message)> progress;
  bool isCancelled() const {
    return (cancelled && cancelled->load()) || (cancel && cancel->cancelled());
  }
  // Runs fn when this call is cancelled (at once if it already is): interrupt blocking I/O.
  [[nodiscard]] CancelSignal::Registration onCancel(std::function<void()> fn) const {
    if (cancel) return cancel->onCancel(std::move(fn));
    return {};
  }
};

struct ObservedResource {
  std::string id;
  bool exists = false;
  bool owned = false;        // carries tend's ownership mark
  std::string appliedHash;   // the spec hash recorded on the object (e.g. label io.tend.spec-hash)
  bool ready = false;        // exists and is healthy/running as desired
  std::string message;       // human summary ("running", "exited (137)", "unhealthy", ...)
  nlohmann::json state;      // provider-specific details used by plan (and shown in diffs)
  // Not ready yet but started (a container running while its health check is pending):
  // dependents for which Provider::startedSuffices() holds may go on (service_started).
  bool started = false;
  // Exists in a final failed state that no apply can fix (a one-shot container that exited
  // non-zero): plan is a no-op and the engine reports the resource failed with `message`,
  // without an apply, until the spec changes or the object goes away.
  bool failed = false;
};

struct ObserveRequest {
  // The desired resources of this provider the engine wants observed (all kinds, all hosts).
  std::vector<const DesiredResource*> desired;
  // Also report owned objects that are not in `desired` (for prune and adoption after state
  // loss): their id comes from the ownership mark.
  bool includeOwned = true;
  // The observe scope of every resource in `desired` (Provider::observeScope); with
  // includeOwned, owned objects of this scope are wanted ("" and no desired: all of them).
  std::string scope;
  // The private data the provider stored with each of these resources (ApplyResponse::
  // privateData), by id; ids without any are absent. With includeOwned, also that of the
  // recorded resources of this provider that are no longer in the spec (an object an
  // interrupted apply left without its mark can be claimed by it, and pruned).
  std::map<std::string, nlohmann::json> privateData;
  CallContext ctx;
};

struct ObserveResponse {
  std::map<std::string, ObservedResource> observed;  // by id; absent id == does not exist
  // Per-id observation failures (e.g. one host unreachable): those ids are `failed`, others go on.
  std::map<std::string, Error> errors;
  // The scope as a whole failed (host unreachable, authentication refused): every resource
  // asked for fails with this one root cause and the scope backs off once.
  std::optional<Error> scopeError;
  Diagnostics diagnostics;
};

enum class Action { Noop, Create, Update, Replace, Delete };

inline const char* actionName(Action a) {
  switch (a) {
    case Action::Noop: return "noop";
    case Action::Create: return "create";
    case Action::Update: return "update";
    case Action::Replace: return "replace";
    case Action::Delete: return "delete";
  }
  return "noop";
}

struct PlannedAction {
  std::string id;
  std::string kind;
  Action action = Action::Noop;
  std::string reason;      // one line: "absent", "spec changed: environment.DB_HOST", "stopped"
  nlohmann::json diff;     // {"field": {"from": x, "to": y}}; secret values shown as "(secret)"
  bool conflict = false;   // an unowned object holds the name: never touched, phase failed
  bool drift = false;      // observed != desired for an owned object whose spec did not change
};

struct PlanRequest {
  const DesiredResource* desired = nullptr;  // null for delete (left the spec)
  const ObservedResource* observed = nullptr;  // null when absent
  const nlohmann::json* privateData = nullptr;  // null when the provider stored none
};

// Busy: someone else holds a lock the call needs (a VM lock, the dpkg lock). Not a failure:
// the phase stays what it was, the message says why, and the key is retried after
// requeueAfter (default: the engine's recheck interval) without any backoff.
enum class Outcome { Ok, Progressing, Failed, Busy };

struct ApplyRequest {
  PlannedAction action;
  const DesiredResource* desired = nullptr;  // null for delete
  const ObservedResource* observed = nullptr;
  CallContext ctx;
  nlohmann::json privateData = nullptr;  // what the provider stored (null: nothing)
};

struct ApplyResponse {
  Outcome outcome = Outcome::Ok;
  std::string message;               // already free of secrets
  bool terminal = false;             // failed and retrying will not help
  // Private data to store with the resource and hand back on every later call (a task id, a
  // container id, a zone serial); Terraform's `private`. Null leaves what is stored alone;
  // an empty object clears it. Kept in the state database, so it survives restarts.
  nlohmann::json privateData = nullptr;
  // Progressing: re-check after this (waiting for health, a task); Busy: retry after this.
  std::optional<std::chrono::seconds> requeueAfter;
  bool started = false;              // with Progressing: see ObservedResource::started
  Diagnostics diagnostics;
};

struct ConcurrencyKey {
  std::string name;  // "<class>/<instance>": "host/web1", "node/pve1", "vm/101"
  int limit = 1;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;                 // "docker"
  virtual std::vector<std::string> kinds() const = 0;   // {"container","network","volume","image"}
  virtual ObserveResponse observe(const ObserveRequest& req) = 0;
  // Pure: no I/O. Same code path for dry-run, tendctl plan, metrics and apply.
  virtual PlannedAction plan(const PlanRequest& req) const = 0;
  virtual ApplyResponse apply(const ApplyRequest& req) = 0;
  // True when `dependent` (one of this provider's resources) needs its dependency
  // `dependencyId` only started, not ready (Compose's depends_on condition: service_started).
  virtual bool startedSuffices(const DesiredResource& dependent, const std::string& dependencyId) const {
    (void)dependent;
    (void)dependencyId;
    return false;
  }
  // Concurrent applies this provider handles well when the spec's reconcile.parallelism does
  // not say (0 = the engine's default).
  virtual int defaultParallelism() const { return 0; }
  // Re-checks of resources with the same scope (a host, a Proxmox cluster, a Docker endpoint)
  // coalesce into one observe call, and a scope's failure (ObserveResponse::scopeError) is
  // one root cause. "" = one scope for the whole provider. By default: the resource's host.
  virtual std::string observeScope(const DesiredResource& r) const { return r.host; }
  // The keys an apply runs under, each with its limit ({"node/pve1", 2}, {"vm/101", 1},
  // {"host/web1", 1}); the engine starts the apply only when every key has room, besides the
  // provider-wide limit. The spec's reconcile.parallelism.<provider>.<class> (the part of the
  // name before the first '/') overrides the limit.
  virtual std::vector<ConcurrencyKey> concurrencyKeys(const DesiredResource* desired,
                                                      const PlannedAction& action) const {
    (void)desired;
    (void)action;
    return {};
  }
  // The deadline of one call when the spec's reconcile.call_timeout does not say (0 = the
  // engine's default).
  virtual std::chrono::milliseconds defaultCallTimeout() const { return std::chrono::milliseconds(0); }
  // A hint, when a spec has just been applied (at start-up, after an edit), that an observe of
  // `desired` (this provider's resources of that spec) follows: a provider may begin the
  // reads that observe will make, so they run while tend prepares the pass. It must not
  // block, and an observe may take such a read only if it is recent and nothing was applied
  // since (the read must answer as one made by that observe would). Default: nothing.
  virtual void prefetch(const std::vector<const DesiredResource*>& desired) { (void)desired; }
};

class HostSessions;  // core/host_sessions.h

// Built from the spec's `providers:` section (already parsed to JSON) and the spec dir.
struct ProviderConfig {
  nlohmann::json config;      // providers.<name> from environment.yml (secrets symbolic)
  std::string specDir;        // for relative paths
  std::string stateDir;       // provider scratch data (e.g. bind9 previous files)
  std::string environment;
  // The daemon's connections to machines (SSH sessions), shared by every provider that
  // reaches a machine through them. Null where there are none (tendctl, some tests).
  HostSessions* hostSessions = nullptr;
};

using ProviderFactory = std::function<Result<std::unique_ptr<Provider>>(const ProviderConfig&)>;

// Everything tend knows about a provider, registered in one place: the factory and what the
// spec loader, the engine and tendctl need (core/provider_spec.h). A registration without a
// factory describes a provider whose section the spec may use but which is not built into
// this tend: the section is validated, and its resources fail with "not built".
struct ProviderRegistration {
  std::string name;                  // the key under `providers:` and DesiredResource::provider
  ProviderFactory factory;           // empty: not built
  std::vector<ConfigKey> config;     // keys of `providers.NAME`
  ProviderRules rules;               // may be empty
  std::vector<ProviderKind> kinds;   // the kinds it serves, with their prune order
  ProviderEndpoint endpoint;         // may be empty: its resources carry no endpoint
  // Keys of `providers.NAME` copied, when set, into the payload of each of its resources
  // (proxmox: node, storage, bridge), so a change to them changes those resources' hashes.
  std::vector<std::string> payloadKeys;
};

// Explicit registration (no static self-registration): registerBuiltinProviders()
// (providers/builtin.cpp) lists them; tendd and tendctl use the same list.
class ProviderRegistry {
 public:
  void add(ProviderRegistration r) {
    auto it = index_.find(r.name);
    if (it != index_.end()) {
      regs_[it->second] = std::move(r);
      return;
    }
    index_[r.name] = regs_.size();
    regs_.push_back(std::move(r));
  }
  // A factory alone (tests): an existing registration keeps its description.
  void registerFactory(const std::string& name, ProviderFactory f) {
    auto it = index_.find(name);
    if (it != index_.end()) {
      regs_[it->second].factory = std::move(f);
      return;
    }
    ProviderRegistration r;
    r.name = name;
    r.factory = std::move(f);
    add(std::move(r));
  }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  bool built(const std::string& name) const {
    const ProviderRegistration* r = find(name);
    return r && r->factory;
  }
  const ProviderRegistration* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &regs_[it->second];
  }
  Result<std::unique_ptr<Provider>> create(const std::string& name, const ProviderConfig& cfg) const {
    const ProviderRegistration* r = find(name);
    if (!r || !r->factory) return makeError("provider '" + name + "' is not built into this tend", true);
    return r->factory(cfg);
  }
  // In registration order.
  const std::vector<ProviderRegistration>& all() const { return regs_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& r : regs_) out.push_back(r.name);
    return out;
  }
  // The provider that serves `kind` ("" when none does).
  std::string providerOfKind(const std::string& kind) const {
    for (const auto& r : regs_)
      for (const auto& k : r.kinds)
        if (k.name == kind) return r.name;
    return "";
  }
  // Prune order of `kind` (lower first); kinds nobody registered go first (nothing of ours
  // depends on them).
  int pruneRank(const std::string& kind) const {
    for (const auto& r : regs_)
      for (const auto& k : r.kinds)
        if (k.name == kind) return k.pruneRank;
    return 0;
  }

 private:
  std::vector<ProviderRegistration> regs_;
  std::map<std::string, size_t> index_;
};

}  // namespace tend
