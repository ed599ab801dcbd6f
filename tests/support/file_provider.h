#pragma once
// Test-only file-backed Provider (tests/support) for crash tests: each object is one JSON file
// in a directory with a generated, unique file name (like a Docker container id), carrying
// the ownership mark {"resource": ID, "hash": ..., "owned": true}. countObjects(id) and the
// afterApply hook let a crash test prove an object was adopted, not applied again. Files are written to a temp name, fsynced and renamed,
// so a SIGKILL leaves either the whole object or nothing.
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/provider.h"

namespace tend::testing {

class FileProvider : public Provider {
 public:
  explicit FileProvider(std::string dir, std::string name = "file",
                        std::vector<std::string> kinds = {"thing", "container", "network"});
  std::string name() const override { return name_; }
  std::vector<std::string> kinds() const override { return kinds_; }
  ObserveResponse observe(const ObserveRequest& req) override;
  PlannedAction plan(const PlanRequest& req) const override;
  ApplyResponse apply(const ApplyRequest& req) override;

  // Called after an apply has changed the files, before apply returns (fault hook: a test
  // raises SIGKILL here to die between the provider's change and the engine's record).
  void afterApply(std::function<void(const ApplyRequest&)> f) { afterApply_ = std::move(f); }
  // Objects (files) whose mark names id.
  int countObjects(const std::string& id) const;
  int totalObjects() const;
  // An object without tend's mark, holding the name id (for conflict tests).
  void createUnowned(const std::string& id);
  void removeUnowned(const std::string& id);

 private:
  struct FileObj {
    std::string file;
    nlohmann::json doc;
  };
  std::vector<FileObj> scan() const;
  void writeAtomic(const std::string& path, const std::string& content) const;

  std::string dir_;
  std::string name_;
  std::vector<std::string> kinds_;
  std::mutex mu_;
  std::function<void(const ApplyRequest&)> afterApply_;
};

}  // namespace tend::testing
