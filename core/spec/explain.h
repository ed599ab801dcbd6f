#pragma once
// `tendctl explain`: everything one app entry (or one resource) turns into, each value with
// the FILE:LINE it came from.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/resource.h"
#include "core/spec/model.h"

namespace tend::spec {

struct ExplainItem {
  std::string kind;    // vm | host | container | network | volume | image | dns | proxy | scrape | dashboard | file
  std::string id;      // resource id, or what the value belongs to (fqdn, file path)
  std::string field;   // e.g. "image", "A@internal", "backend"
  std::string value;   // secrets symbolic
  Location source;     // where it was written (the value, or the entry that implies it)
};

// Items for `what`: an app name, or a resource id (container/APP/NAME → its app's items for
// that container; any other id → the resource). Empty when nothing matches.
std::vector<ExplainItem> explain(const Spec& s, const DesiredGraph& g, const std::string& what);

// The items as `tendctl explain --output json` and GET /v1/explain/WHAT show them: an array of
// {kind, id, field, value, source: {file, line, col}}, every ${secret:NAME} shown as "(secret)".
nlohmann::json explainJson(const std::vector<ExplainItem>& items);

}  // namespace tend::spec
