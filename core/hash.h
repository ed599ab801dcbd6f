#pragma once
#include <string>

namespace tend {
// Lower-case hex SHA-256 of `data` (resource hashes, content revisions, file checksums).
std::string sha256Hex(const std::string& data);
}  // namespace tend
