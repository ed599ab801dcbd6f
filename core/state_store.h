#pragma once
// What the engine records. The engine never trusts state over observation: state holds what
// was applied (hashes, owner data), runs and events; observation decides what exists.
// Implementation: state/sqlite_state_store.{h,cpp} (SQLite, WAL). A test double lives in tests.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace tend {

enum class Phase { Pending, Blocked, Progressing, Ready, Failed, Deleting };

inline const char* phaseName(Phase p) {
  switch (p) {
    case Phase::Pending: return "pending";
    case Phase::Blocked: return "blocked";
    case Phase::Progressing: return "progressing";
    case Phase::Ready: return "ready";
    case Phase::Failed: return "failed";
    case Phase::Deleting: return "deleting";
  }
  return "pending";
}

struct ResourceRecord {
  std::string id;
  std::string kind;
  std::string desiredHash;
  std::string lastAppliedHash;
  Phase phase = Phase::Pending;
  std::string message;
  bool drifted = false;
  int64_t lastAppliedUnix = 0;   // 0 = never
  int64_t updatedUnix = 0;
  nlohmann::json ownerData;      // container id, vm id, zone serial, ...
  std::vector<std::string> dependsOn;
};

struct RunRecord {
  int64_t id = 0;
  int64_t startedUnixMs = 0;
  int64_t finishedUnixMs = 0;  // 0 while running
  std::string result;          // "running", "success", "failed", "partial", "cancelled"
  std::string revision;
  std::string trigger;         // "interval", "inotify", "api", "sighup", "startup", "git"
  bool dryRun = false;
  std::string summary;         // e.g. "12 ready, 1 failed"
};

struct EventRecord {
  int64_t id = 0;               // monotonic
  int64_t unixMs = 0;
  std::string level;            // "info", "warn", "error"
  std::string resource;         // id or ""
  std::string reason;           // "Created", "Updated", "DriftCorrected", "Failed", "SpecInvalid", ...
  std::string message;          // redacted before it gets here
  int64_t runId = 0;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual Result<std::vector<ResourceRecord>> loadResources() = 0;
  virtual Result<std::optional<ResourceRecord>> getResource(const std::string& id) = 0;
  // Every apply is recorded in one transaction together with its event.
  virtual Result<void> recordApply(const ResourceRecord& rec, const EventRecord& ev) = 0;
  virtual Result<void> putResource(const ResourceRecord& rec) = 0;
  virtual Result<void> deleteResource(const std::string& id) = 0;
  // A prune: remove the record and append its event, ideally in one transaction (the default
  // does it in two steps; a crash between them leaves a record the next pass cleans up).
  virtual Result<void> recordDelete(const std::string& id, const EventRecord& ev) {
    auto r = deleteResource(id);
    if (!r) return r;
    auto e = appendEvent(ev);
    if (!e) return e.error();
    return {};
  }

  virtual Result<int64_t> beginRun(const RunRecord& run) = 0;
  virtual Result<void> finishRun(const RunRecord& run) = 0;
  virtual Result<std::optional<RunRecord>> lastRun() = 0;

  virtual Result<int64_t> appendEvent(const EventRecord& ev) = 0;
  virtual Result<std::vector<EventRecord>> eventsSince(int64_t sinceId, int limit) = 0;
  // The newest `limit` events (of one resource when `resource` is not ""), oldest first. The
  // default pages through eventsSince; stores with an index override it.
  virtual Result<std::vector<EventRecord>> recentEvents(const std::string& resource, int limit) {
    std::vector<EventRecord> out;
    int64_t since = 0;
    for (;;) {
      auto page = eventsSince(since, 1000);
      if (!page) return page.error();
      for (auto& e : *page) {
        since = e.id;
        if (resource.empty() || e.resource == resource) out.push_back(std::move(e));
      }
      if (limit > 0 && out.size() > static_cast<size_t>(limit))
        out.erase(out.begin(), out.end() - limit);
      if (page->size() < 1000) break;
    }
    return out;
  }
  // The newest `limit` runs, newest first. The default knows only the last one.
  virtual Result<std::vector<RunRecord>> recentRuns(int limit) {
    (void)limit;
    auto r = lastRun();
    if (!r) return r.error();
    std::vector<RunRecord> out;
    if (*r) out.push_back(**r);
    return out;
  }

  // Key/value for small facts: "last_good_revision", "zone_serial/<zone@view>", ...
  // Waits for the check of the stored data that opening began (SQLite's quick_check, on a
  // second connection); an error means the store must not be used.
  // Every write waits for it too. Default: nothing to check.
  virtual Result<void> verified() { return {}; }
  virtual Result<std::optional<std::string>> getMeta(const std::string& key) = 0;
  virtual Result<void> setMeta(const std::string& key, const std::string& value) = 0;
};

}  // namespace tend
