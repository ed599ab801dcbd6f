#include "core/secrets/crypto.h"

#include <memory>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace tend::secrets::crypto {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

const unsigned char* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* u(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::optional<std::string> base64Decode(const std::string& in, bool padded) {
  size_t n = in.size();
  size_t pad = 0;
  if (padded) {
    if (n % 4 != 0) return std::nullopt;
    if (n >= 1 && in[n - 1] == '=') pad++;
    if (n >= 2 && in[n - 2] == '=') pad++;
    n -= pad;
  } else if (n % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(n * 3 / 4 + 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64Value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Canonical: leftover bits must be zero (otherwise two encodings decode the same).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  if (padded && ((n % 4 == 2 && pad != 2) || (n % 4 == 3 && pad != 1) || (n % 4 == 0 && pad != 0)))
    return std::nullopt;
  return out;
}

std::string base64Encode(const std::string& in, bool padded) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rem = in.size() - i;
  if (rem == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (padded) out += "==";
  } else if (rem == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    if (padded) out += "=";
  }
  return out;
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(u(out), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string hkdfSha256(const std::string& ikm, const std::string& salt, const std::string& info,
                       size_t len) {
  std::string out(len, '\0');
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  // An empty salt means "HashLen zero bytes" (RFC 5869); OpenSSL needs it passed explicitly.
  std::string s = salt.empty() ? std::string(32, '\0') : salt;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), u(s), static_cast<int>(s.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), u(ikm), static_cast<int>(ikm.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), u(info), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), u(out), &len) <= 0)
    throw std::runtime_error("HKDF failed");
  return out;
}

std::string hmacSha256(const std::string& key, const std::string& data) {
  std::string out(32, '\0');
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), u(data), data.size(), u(out), &len);
  return out;
}

std::string sha256(const std::string& data) {
  std::string out(32, '\0');
  SHA256(u(data), data.size(), u(out));
  return out;
}

std::string toHex(const std::string& bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string chachaSeal(const std::string& key, const std::string& nonce, const std::string& pt) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(pt.size() + 16, '\0');
  int len = 0, fin = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, u(key), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), u(out), &len, u(pt), static_cast<int>(pt.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), u(out) + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, u(out) + pt.size()) != 1)
    throw std::runtime_error("ChaCha20-Poly1305 encryption failed");
  return out;
}

std::optional<std::string> chachaOpen(const std::string& key, const std::string& nonce,
                                      const std::string& ct) {
  if (ct.size() < 16) return std::nullopt;
  size_t n = ct.size() - 16;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(n, '\0');
  std::string tag = ct.substr(n);
  int len = 0, fin = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, u(key), u(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), u(out), &len, u(ct), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), u(out) + len, &fin) != 1) {
    wipe(out);  // unauthenticated plaintext must never escape
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> aesGcmOpen(const std::string& key, const std::string& iv,
                                      const std::string& ct, const std::string& tag,
                                      const std::string& aad) {
  if (key.size() != 32 || tag.size() != 16 || iv.empty()) return std::nullopt;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(ct.size(), '\0');
  std::string t = tag;
  int len = 0, fin = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(iv)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), u(out), &len, u(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, t.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), u(out) + len, &fin) != 1) {
    wipe(out);
    return std::nullopt;
  }
  return out;
}

bool aesGcmSeal(const std::string& key, const std::string& iv, const std::string& pt,
                const std::string& aad, std::string& ct, std::string& tag) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  ct.assign(pt.size(), '\0');
  tag.assign(16, '\0');
  int len = 0, fin = 0;
  return ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) == 1 &&
         EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(iv)) == 1 &&
         EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(aad), static_cast<int>(aad.size())) == 1 &&
         EVP_EncryptUpdate(ctx.get(), u(ct), &len, u(pt), static_cast<int>(pt.size())) == 1 &&
         EVP_EncryptFinal_ex(ctx.get(), u(ct) + len, &fin) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag.data()) == 1;
}

std::optional<std::string> x25519Public(const std::string& priv) {
  Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u(priv), priv.size()));
  if (!k) return std::nullopt;
  std::string pub(32, '\0');
  size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(k.get(), u(pub), &len) != 1 || len != 32) return std::nullopt;
  return pub;
}

std::optional<std::string> x25519(const std::string& priv, const std::string& peerPub) {
  Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u(priv), priv.size()));
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u(peerPub), peerPub.size()));
  if (!k || !peer) return std::nullopt;
  PkeyCtx ctx(EVP_PKEY_CTX_new(k.get(), nullptr));
  std::string out(32, '\0');
  size_t len = 32;
  // OpenSSL refuses an all-zero shared secret (low-order peer points), as age requires.
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) <= 0 ||
      EVP_PKEY_derive(ctx.get(), u(out), &len) <= 0 || len != 32)
    return std::nullopt;
  bool zero = true;
  for (char c : out) zero = zero && c == 0;
  if (zero) return std::nullopt;
  return out;
}

std::optional<std::string> scrypt(const std::string& pass, const std::string& salt, int logN,
                                  size_t len) {
  std::string out(len, '\0');
  uint64_t n = uint64_t{1} << logN;
  uint64_t maxmem = 128ull * 8 * n + (16ull << 20);
  if (EVP_PBE_scrypt(pass.data(), pass.size(), u(salt), salt.size(), n, 8, 1, maxmem, u(out), len) != 1)
    return std::nullopt;
  return out;
}

}  // namespace tend::secrets::crypto
