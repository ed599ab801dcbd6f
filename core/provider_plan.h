#pragma once
// The decision every provider's plan() starts with, before any kind-specific comparison:
//
//   not desired (left the spec): owned object -> Delete; nothing owned there -> Noop
//   desired, absent            -> Create "absent"
//   desired, held unmarked     -> conflict (never touched; the engine fails the phase)
//   desired, owned, hash moved -> Update "spec changed", diff.hash {from, to}
//   desired, owned, same hash  -> undecided: the provider compares further (drift, health)
//
// Also the failed ApplyResponse every provider builds.
//
// Providers word their reasons differently ("left the spec" / "not in the spec", a conflict
// naming the file or the container); PlanWords carries those words. Pure and header-only.
#include <string>

#include "core/provider.h"

namespace tend {

struct PlanWords {
  std::string leftSpec = "left the spec";  // reason of the Delete
  std::string nothingThere = "absent";     // not desired and nothing owned: Noop's reason
  std::string absent = "absent";           // reason of the Create
  // The conflict's reason; "{id}" stands for the resource id.
  std::string conflict = "conflict: {id} exists and is not managed by tend";
  // The action a conflict carries (the engine never applies it; tendctl shows it).
  Action conflictAction = Action::Create;
  std::string specChanged = "spec changed";
};

enum class PlanCase { LeftSpec, Absent, Conflict, SpecChanged, Unchanged };

struct PlanStart {
  PlanCase which = PlanCase::Unchanged;
  PlannedAction action;  // id and kind set; the decision for `which` (Noop when Unchanged)
  // True when `action` is final for the common rules (every case but Unchanged).
  bool decided() const { return which != PlanCase::Unchanged; }
};

inline PlanStart startPlan(const PlanRequest& req, const PlanWords& w = {}) {
  PlanStart s;
  PlannedAction& a = s.action;
  const DesiredResource* d = req.desired;
  const ObservedResource* o = req.observed;
  a.id = d ? d->id : (o ? o->id : "");
  a.kind = kindOfId(a.id);
  if (!d) {
    s.which = PlanCase::LeftSpec;
    if (o && o->exists && o->owned) {
      a.action = Action::Delete;
      a.reason = w.leftSpec;
    } else {
      a.reason = w.nothingThere;
    }
    return s;
  }
  if (!o || !o->exists) {
    s.which = PlanCase::Absent;
    a.action = Action::Create;
    a.reason = w.absent;
    return s;
  }
  if (!o->owned) {
    s.which = PlanCase::Conflict;
    a.conflict = true;
    a.action = w.conflictAction;
    a.reason = w.conflict;
    for (size_t p = 0; (p = a.reason.find("{id}", p)) != std::string::npos; p += d->id.size())
      a.reason.replace(p, 4, d->id);
    return s;
  }
  if (o->appliedHash != d->hash) {
    s.which = PlanCase::SpecChanged;
    a.action = Action::Update;
    a.reason = w.specChanged;
    a.diff["hash"] = {{"from", o->appliedHash}, {"to", d->hash}};
    return s;
  }
  return s;
}

// A failed apply; `message` must already be free of secrets. Terminal: retrying cannot help.
inline ApplyResponse applyFailed(std::string message, bool terminal = false) {
  ApplyResponse r;
  r.outcome = Outcome::Failed;
  r.message = std::move(message);
  r.terminal = terminal;
  return r;
}

}  // namespace tend
