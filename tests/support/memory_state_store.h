#pragma once
// Test-only in-memory StateStore (tests/support): the same contract as the SQLite store,
// plus write counters so tests can prove a no-op pass writes nothing per resource.
#include <atomic>
#include <map>
#include <mutex>

#include "core/state_store.h"

namespace tend::testing {

class MemoryStateStore final : public StateStore {
 public:
  Result<std::vector<ResourceRecord>> loadResources() override;
  Result<std::optional<ResourceRecord>> getResource(const std::string& id) override;
  Result<void> recordApply(const ResourceRecord& rec, const EventRecord& ev) override;
  Result<void> putResource(const ResourceRecord& rec) override;
  Result<void> deleteResource(const std::string& id) override;
  Result<int64_t> beginRun(const RunRecord& run) override;
  Result<void> finishRun(const RunRecord& run) override;
  Result<std::optional<RunRecord>> lastRun() override;
  Result<int64_t> appendEvent(const EventRecord& ev) override;
  Result<std::vector<EventRecord>> eventsSince(int64_t sinceId, int limit) override;
  Result<std::optional<std::string>> getMeta(const std::string& key) override;
  Result<void> setMeta(const std::string& key, const std::string& value) override;

  // Writes to resources/events/meta (runs are not counted).
  int resourceWrites() const { return resourceWrites_.load(); }
  std::vector<EventRecord> events() const;
  std::vector<RunRecord> runs() const;
  std::map<std::string, ResourceRecord> resources() const;
  void wipe();  // simulate state loss

 private:
  mutable std::mutex mu_;
  std::map<std::string, ResourceRecord> resources_;
  std::vector<RunRecord> runs_;
  std::vector<EventRecord> events_;
  std::map<std::string, std::string> meta_;
  std::atomic<int> resourceWrites_{0};
};

}  // namespace tend::testing
