#pragma once
#include <string>

namespace tend {
// Lower-case hex SHA-256 of `data` (resource hashes, content revisions, file checksums).
std::string sha256Hex(const std::string& data);
// OpenSSL's first digest reads its configuration and sets up its default provider (about a
// millisecond): a program that is about to hash calls this on a side thread while it opens
// other things. Safe to call from any thread, any number of times.
void warmUpHashing();
}  // namespace tend
