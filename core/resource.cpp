#include "core/resource.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace tend {

void DesiredGraph::reindex() {
  // The ids are copied into one buffer and sorted there: comparing through the resources
  // themselves touches a scattered 10^4 objects and their heap strings at every step, which
  // made this sort several times slower on a large spec.
  size_t bytes = 0;
  for (const auto& r : resources) bytes += r.id.size();
  std::string buf;
  buf.reserve(bytes);
  std::vector<std::pair<std::string_view, uint32_t>> keys;
  keys.reserve(resources.size());
  for (size_t i = 0; i < resources.size(); ++i) buf += resources[i].id;
  size_t at = 0;
  for (size_t i = 0; i < resources.size(); ++i) {
    keys.emplace_back(std::string_view(buf).substr(at, resources[i].id.size()), static_cast<uint32_t>(i));
    at += resources[i].id.size();
  }
  std::sort(keys.begin(), keys.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  byId.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) byId[i] = keys[i].second;
}

}  // namespace tend
