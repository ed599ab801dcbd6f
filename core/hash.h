#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace tend {

// SHA-256 for content hashes (resource hashes, spec revisions, ETags, file checksums), fed
// in pieces. Every digest tend computes for its own bookkeeping goes through here.
//
// It uses OpenSSL's direct SHA-256 (SHA256_Init/Update/Final), not EVP: the first EVP digest
// of a process reads OpenSSL's configuration and sets up its default provider, ~3 ms of CPU
// that a short `tendd --once` paid for a few hashes. OpenSSL 3 marks that API deprecated but
// ships it (same assembly as EVP's SHA-256); should it go, this file is the one to change.
// Keyed MACs and ciphers (secrets, webhooks, TLS) stay on EVP.
class Sha256Hasher {
 public:
  Sha256Hasher();
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<unsigned char, 32> finish();

 private:
  alignas(16) unsigned char ctx_[128];  // a SHA256_CTX (checked in hash.cpp)
};

// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
// The raw 32-byte digest of `data`.
std::array<unsigned char, 32> sha256(std::string_view data);
// Lower-case hex of `n` bytes.
std::string hexBytes(const unsigned char* p, std::size_t n);

}  // namespace tend
