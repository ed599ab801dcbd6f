#include "core/hash.h"

// The direct SHA-256 functions carry OpenSSL 3's deprecation mark (see hash.h for why they
// are used); this file alone calls them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <new>

namespace tend {

static_assert(sizeof(SHA256_CTX) <= 128 && alignof(SHA256_CTX) <= 16);

namespace {
SHA256_CTX* ctxOf(unsigned char* raw) { return std::launder(reinterpret_cast<SHA256_CTX*>(raw)); }
}  // namespace

Sha256Hasher::Sha256Hasher() { SHA256_Init(new (ctx_) SHA256_CTX); }

void Sha256Hasher::update(const void* data, std::size_t n) {
  if (n) SHA256_Update(ctxOf(ctx_), data, n);
}

std::array<unsigned char, 32> Sha256Hasher::finish() {
  std::array<unsigned char, 32> md{};
  SHA256_Final(md.data(), ctxOf(ctx_));
  return md;
}

std::array<unsigned char, 32> sha256(std::string_view data) {
  Sha256Hasher h;
  h.update(data);
  return h.finish();
}

std::string hexBytes(const unsigned char* p, std::size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += hex[p[i] >> 4];
    out += hex[p[i] & 15];
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  auto md = sha256(data);
  return hexBytes(md.data(), md.size());
}

}  // namespace tend
