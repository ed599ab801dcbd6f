#pragma once
// A StateStore decorator between the engine and the real store: it tells the daemon when a
// run begins (so POST /v1/reconcile can answer with its run id) and when anything changed (so
// cached /v1/status bodies are re-rendered). Everything else is forwarded unchanged.
#include <atomic>
#include <functional>
#include <mutex>

#include "core/state_store.h"

namespace tend::daemon {

class StateTap final : public StateStore {
 public:
  explicit StateTap(StateStore& inner) : inner_(inner) {}
  std::function<void(const RunRecord&)> onRunBegun;     // run id set
  std::function<void(const RunRecord&)> onRunFinished;
  uint64_t generation() const { return gen_.load(std::memory_order_relaxed); }
  void bump() { gen_.fetch_add(1, std::memory_order_relaxed); }

  Result<std::vector<ResourceRecord>> loadResources() override { return inner_.loadResources(); }
  Result<std::optional<ResourceRecord>> getResource(const std::string& id) override {
    return inner_.getResource(id);
  }
  Result<void> recordApply(const ResourceRecord& rec, const EventRecord& ev) override {
    auto r = inner_.recordApply(rec, ev);
    bump();
    return r;
  }
  Result<void> putResource(const ResourceRecord& rec) override {
    auto r = inner_.putResource(rec);
    bump();
    return r;
  }
  Result<void> deleteResource(const std::string& id) override {
    auto r = inner_.deleteResource(id);
    bump();
    return r;
  }
  Result<void> recordDelete(const std::string& id, const EventRecord& ev) override {
    auto r = inner_.recordDelete(id, ev);
    bump();
    return r;
  }
  Result<int64_t> beginRun(const RunRecord& run) override {
    auto r = inner_.beginRun(run);
    bump();
    if (r.ok() && onRunBegun) {
      RunRecord rec = run;
      rec.id = *r;
      onRunBegun(rec);
    }
    return r;
  }
  Result<void> finishRun(const RunRecord& run) override {
    auto r = inner_.finishRun(run);
    bump();
    if (onRunFinished) onRunFinished(run);
    return r;
  }
  Result<std::optional<RunRecord>> lastRun() override { return inner_.lastRun(); }
  Result<int64_t> appendEvent(const EventRecord& ev) override {
    auto r = inner_.appendEvent(ev);
    bump();
    return r;
  }
  Result<std::vector<EventRecord>> eventsSince(int64_t sinceId, int limit) override {
    return inner_.eventsSince(sinceId, limit);
  }
  Result<std::vector<EventRecord>> recentEvents(const std::string& resource, int limit) override {
    return inner_.recentEvents(resource, limit);
  }
  Result<std::vector<RunRecord>> recentRuns(int limit) override { return inner_.recentRuns(limit); }
  Result<void> verified() override { return inner_.verified(); }
  Result<std::optional<std::string>> getMeta(const std::string& key) override {
    return inner_.getMeta(key);
  }
  Result<void> setMeta(const std::string& key, const std::string& value) override {
    return inner_.setMeta(key, value);
  }

 private:
  StateStore& inner_;
  std::atomic<uint64_t> gen_{1};
};

}  // namespace tend::daemon
