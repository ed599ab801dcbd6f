#pragma once
// The resource hash: lower-case hex SHA-256 of `j.dump()` (docs/resources.md), computed
// without materialising the dump.
#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tend::spec {

// Equal to sha256Hex(j.dump()) for every value, and throws what dump() throws.
std::string jsonSha256Hex(const nlohmann::json& j);

// A payload field that expansion leaves out while it holds its default value
// (docs/resources.md: "absent = default"). A resource's hash covers its payload with every
// left-out field filled back in, so leaving defaults out moves no hash (the docker provider
// keeps the hash in a container label: a moved hash would recreate the container).
struct PayloadDefault {
  std::string key;
  nlohmann::json value;
};
using PayloadDefaults = std::vector<PayloadDefault>;  // key-sorted (std::map order)

// The defaults of one resource kind; empty for kinds that leave nothing out.
const PayloadDefaults& payloadDefaults(const std::string& kind);
// True when `v` is, byte for byte once dumped, the default `d` (same type, same value).
bool isDefaultValue(const nlohmann::json& v, const nlohmann::json& d);
// sha256Hex(withDefaults(j, defaults).dump()), streamed: for a top-level object, the fields
// of `defaults` that `j` lacks are hashed in key order as if present.
std::string jsonSha256Hex(const nlohmann::json& j, const PayloadDefaults& defaults);
// The raw digest of jsonSha256Hex(j, defaults), and its lower-case hex.
using Sha256 = std::array<unsigned char, 32>;
Sha256 jsonSha256(const nlohmann::json& j, const PayloadDefaults& defaults);
std::string hexOf(const Sha256& d);
// The same for an object given by its map (which, unlike a json handle, does not move when
// the json holding it is moved).
Sha256 objectSha256(const nlohmann::json::object_t& o, const PayloadDefaults& defaults);
// The canonical (hashed) form of a payload: left-out defaults filled in.
nlohmann::json withDefaults(const nlohmann::json& j, const PayloadDefaults& defaults);

}  // namespace tend::spec
