#pragma once
// The resource hash: lower-case hex SHA-256 of `j.dump()` (docs/resources.md), computed
// without materialising the dump.
#include <string>

#include <nlohmann/json.hpp>

namespace tend::spec {

// Equal to sha256Hex(j.dump()) for every value, and throws what dump() throws.
std::string jsonSha256Hex(const nlohmann::json& j);

}  // namespace tend::spec
