#include "tests/support/file_provider.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "core/provider_plan.h"

namespace fs = std::filesystem;

namespace tend::testing {

namespace {
std::string randomHex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}
}  // namespace

FileProvider::FileProvider(std::string dir, std::string name, std::vector<std::string> kinds)
    : dir_(std::move(dir)), name_(std::move(name)), kinds_(std::move(kinds)) {
  fs::create_directories(dir_);
}

void FileProvider::writeAtomic(const std::string& path, const std::string& content) const {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  size_t off = 0;
  while (off < content.size()) {
    ssize_t w = ::write(fd, content.data() + off, content.size() - off);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
  ::rename(tmp.c_str(), path.c_str());
}

std::vector<FileProvider::FileObj> FileProvider::scan() const {
  std::vector<FileObj> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) continue;  // half-written garbage is skipped
    out.push_back(FileObj{e.path().string(), std::move(doc)});
  }
  return out;
}

int FileProvider::countObjects(const std::string& id) const {
  int n = 0;
  for (auto& o : scan())
    if (o.doc.value("resource", "") == id) n++;
  return n;
}

int FileProvider::totalObjects() const { return static_cast<int>(scan().size()); }

void FileProvider::createUnowned(const std::string& id) {
  nlohmann::json doc = {{"resource", id}, {"owned", false}};
  writeAtomic(dir_ + "/unowned-" + randomHex() + ".json", doc.dump());
}

void FileProvider::removeUnowned(const std::string& id) {
  for (auto& o : scan())
    if (o.doc.value("resource", "") == id && !o.doc.value("owned", false)) fs::remove(o.file);
}

ObserveResponse FileProvider::observe(const ObserveRequest& req) {
  ObserveResponse resp;
  std::set<std::string> wanted;
  for (auto* d : req.desired) wanted.insert(d->id);
  for (auto& o : scan()) {
    std::string id = o.doc.value("resource", "");
    if (id.empty()) continue;
    bool owned = o.doc.value("owned", false);
    if (!wanted.count(id) && !(req.includeOwned && owned)) continue;
    ObservedResource r;
    r.id = id;
    r.exists = true;
    r.owned = owned;
    r.appliedHash = owned ? o.doc.value("hash", "") : "";
    r.ready = true;
    r.message = "present";
    r.state = {{"file", o.file}, {"spec", o.doc.value("spec", nlohmann::json())}};
    resp.observed[id] = std::move(r);
  }
  return resp;
}

PlannedAction FileProvider::plan(const PlanRequest& req) const {
  PlanWords words;
  words.leftSpec = "not in the spec";
  words.nothingThere = "";
  words.conflict = "conflict: an unmarked object holds {id}";
  return startPlan(req, words).action;  // the same hash is all there is to compare
}

ApplyResponse FileProvider::apply(const ApplyRequest& req) {
  std::lock_guard lk(mu_);
  ApplyResponse resp;
  const std::string& id = req.action.id;
  auto objs = scan();
  std::vector<FileObj*> mine;
  bool unowned = false;
  for (auto& o : objs)
    if (o.doc.value("resource", "") == id) {
      if (o.doc.value("owned", false))
        mine.push_back(&o);
      else
        unowned = true;
    }
  if (unowned && req.action.action != Action::Delete)
    return applyFailed("refusing to touch " + id + ": not managed by tend", true);
  switch (req.action.action) {
    case Action::Noop:
      return resp;
    case Action::Delete:
      for (auto* o : mine) fs::remove(o->file);  // unowned ones are never touched
      resp.message = "deleted";
      break;
    case Action::Create:
    case Action::Update:
    case Action::Replace: {
      if (!req.desired) return applyFailed("no desired resource");
      nlohmann::json doc = {{"resource", id},
                            {"owned", true},
                            {"hash", req.desired->hash},
                            {"spec", req.desired->spec}};
      // A new object gets a new random file name (like a container id); an existing marked
      // object is rewritten in place, which keeps apply idempotent.
      std::string path = mine.empty() ? dir_ + "/" + randomHex() + ".json" : mine.front()->file;
      writeAtomic(path, doc.dump());
      resp.privateData = {{"file", path}};
      resp.message = req.action.action == Action::Create ? "created" : "updated";
      break;
    }
  }
  if (afterApply_) afterApply_(req);
  return resp;
}

}  // namespace tend::testing
