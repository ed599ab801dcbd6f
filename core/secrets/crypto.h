#pragma once
// Thin OpenSSL wrappers shared by age and SOPS. Every function returns an error instead of
// throwing; outputs that may hold key material are wiped by the callers (OPENSSL_cleanse).
#include <cstdint>
#include <optional>
#include <string>

namespace tend::secrets::crypto {

// Strict base64 (standard alphabet). `padded` selects RFC 4648 padding; both reject
// non-canonical encodings (non-zero unused bits) and any character outside the alphabet.
std::optional<std::string> base64Decode(const std::string& in, bool padded);
std::string base64Encode(const std::string& in, bool padded);

std::string randomBytes(size_t n);
std::string hkdfSha256(const std::string& ikm, const std::string& salt, const std::string& info,
                       size_t len);
std::string hmacSha256(const std::string& key, const std::string& data);
std::string sha256(const std::string& data);
std::string toHex(const std::string& bytes, bool upper = false);

// ChaCha20-Poly1305 (12-byte nonce, 16-byte tag appended).
std::string chachaSeal(const std::string& key, const std::string& nonce, const std::string& pt);
std::optional<std::string> chachaOpen(const std::string& key, const std::string& nonce,
                                      const std::string& ct);

// AES-256-GCM with an arbitrary IV length (SOPS uses 32 bytes) and a separate 16-byte tag.
std::optional<std::string> aesGcmOpen(const std::string& key, const std::string& iv,
                                      const std::string& ct, const std::string& tag,
                                      const std::string& aad);
bool aesGcmSeal(const std::string& key, const std::string& iv, const std::string& pt,
                const std::string& aad, std::string& ct, std::string& tag);

// X25519: public key from a private one, and the shared secret (nullopt when all-zero).
std::optional<std::string> x25519Public(const std::string& priv);
std::optional<std::string> x25519(const std::string& priv, const std::string& peerPub);

std::optional<std::string> scrypt(const std::string& pass, const std::string& salt, int logN,
                                  size_t len);

void wipe(std::string& s);

}  // namespace tend::secrets::crypto
