#include "tests/support/memory_state_store.h"

namespace tend::testing {

Result<std::vector<ResourceRecord>> MemoryStateStore::loadResources() {
  std::lock_guard lk(mu_);
  std::vector<ResourceRecord> out;
  for (auto& [id, r] : resources_) out.push_back(r);
  return out;
}

Result<std::optional<ResourceRecord>> MemoryStateStore::getResource(const std::string& id) {
  std::lock_guard lk(mu_);
  auto it = resources_.find(id);
  if (it == resources_.end()) return std::optional<ResourceRecord>{};
  return std::optional<ResourceRecord>{it->second};
}

Result<void> MemoryStateStore::recordApply(const ResourceRecord& rec, const EventRecord& ev) {
  std::lock_guard lk(mu_);
  resourceWrites_++;
  resources_[rec.id] = rec;
  EventRecord e = ev;
  e.id = static_cast<int64_t>(events_.size()) + 1;
  events_.push_back(std::move(e));
  return {};
}

Result<void> MemoryStateStore::putResource(const ResourceRecord& rec) {
  std::lock_guard lk(mu_);
  resourceWrites_++;
  resources_[rec.id] = rec;
  return {};
}

Result<void> MemoryStateStore::deleteResource(const std::string& id) {
  std::lock_guard lk(mu_);
  resourceWrites_++;
  resources_.erase(id);
  return {};
}

Result<int64_t> MemoryStateStore::beginRun(const RunRecord& run) {
  std::lock_guard lk(mu_);
  RunRecord r = run;
  r.id = static_cast<int64_t>(runs_.size()) + 1;
  runs_.push_back(r);
  return r.id;
}

Result<void> MemoryStateStore::finishRun(const RunRecord& run) {
  std::lock_guard lk(mu_);
  if (run.id < 1 || run.id > static_cast<int64_t>(runs_.size())) return makeError("no such run");
  runs_[run.id - 1] = run;
  return {};
}

Result<std::optional<RunRecord>> MemoryStateStore::lastRun() {
  std::lock_guard lk(mu_);
  if (runs_.empty()) return std::optional<RunRecord>{};
  return std::optional<RunRecord>{runs_.back()};
}

Result<int64_t> MemoryStateStore::appendEvent(const EventRecord& ev) {
  std::lock_guard lk(mu_);
  resourceWrites_++;
  EventRecord e = ev;
  e.id = static_cast<int64_t>(events_.size()) + 1;
  events_.push_back(e);
  return e.id;
}

Result<std::vector<EventRecord>> MemoryStateStore::eventsSince(int64_t sinceId, int limit) {
  std::lock_guard lk(mu_);
  std::vector<EventRecord> out;
  for (auto& e : events_)
    if (e.id > sinceId && static_cast<int>(out.size()) < limit) out.push_back(e);
  return out;
}

Result<std::optional<std::string>> MemoryStateStore::getMeta(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::optional<std::string>{};
  return std::optional<std::string>{it->second};
}

Result<void> MemoryStateStore::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard lk(mu_);
  resourceWrites_++;
  meta_[key] = value;
  return {};
}

std::vector<EventRecord> MemoryStateStore::events() const {
  std::lock_guard lk(mu_);
  return events_;
}
std::vector<RunRecord> MemoryStateStore::runs() const {
  std::lock_guard lk(mu_);
  return runs_;
}
std::map<std::string, ResourceRecord> MemoryStateStore::resources() const {
  std::lock_guard lk(mu_);
  return resources_;
}
void MemoryStateStore::wipe() {
  std::lock_guard lk(mu_);
  resources_.clear();
  meta_.clear();
}

}  // namespace tend::testing
