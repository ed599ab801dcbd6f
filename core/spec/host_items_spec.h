#pragma once
// The host-item keys of a `groups:` entry beyond packages/services/files (hosts.yml):
// directories, users, unix_groups, mounts, sysctl, timezone, commands, timers, and the map form
// of a package entry ({name, state: present|absent|latest}). Read into GroupSpec::items (the
// payload shape of docs/resources.md), with located errors.
#include <string>

#include "core/spec/model.h"
#include "core/spec/walker.h"

namespace tend::spec {

// The keys readGroupHostItem() takes.
inline constexpr const char* kGroupItemKeys[] = {"directories", "users", "unix_groups", "mounts",
                                                 "sysctl",      "timezone", "commands", "timers"};

// `key` is one of kGroupItemKeys; `y` its value in group `g` (`ctx` names the group).
void readGroupHostItem(Walker& w, const std::string& key, const YNode* y, GroupSpec& g, const std::string& ctx);
// A `packages:` list: names, or {name, state}.
void readGroupPackages(Walker& w, const YNode* y, GroupSpec& g);

// A file's `template:` (a file of the spec directory read now and interpolated like `content`).
struct FileTemplateCtx {
  Walker& w;
  const std::string& specDir;
  const std::string& path;
  const std::string& fctx;
  nlohmann::json& f;
  GroupSpec& g;
  bool& hasContent;
};
void readFileTemplate(FileTemplateCtx& c, const YNode* z);

}  // namespace tend::spec
