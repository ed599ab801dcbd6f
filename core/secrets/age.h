#pragma once
// age v1 (age-encryption.org/v1) in-process with OpenSSL: X25519 and scrypt recipients, STREAM
// payload, header MAC, ASCII armor. Follows C2SP age.md and the reference Go implementation's
// strictness (canonical base64, exact stanza shapes), checked against the C2SP CCTV vectors.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secrets.h"

namespace tend::secrets::age {

// Why a decryption failed, in the categories the CCTV vectors distinguish.
enum class Failure { kNone, kArmor, kHeader, kNoMatch, kHmac, kPayload };
const char* failureName(Failure f);

struct X25519Identity {
  std::array<uint8_t, 32> secret{};
  std::array<uint8_t, 32> pub{};
  ~X25519Identity();
  X25519Identity() = default;
  X25519Identity(const X25519Identity&) = default;
  X25519Identity& operator=(const X25519Identity&) = default;
};

struct Identities {
  std::vector<X25519Identity> x25519;
  std::vector<SecretString> passphrases;
  int maxScryptWorkFactor = 22;  // same default as age: 2^22 is ~1 s and 1 GiB
};

// Parses a key file as age-keygen writes it: "#" comments, blank lines, one
// AGE-SECRET-KEY-1... per line. Unknown lines (e.g. plugin or PQ identities) are errors.
Result<std::vector<X25519Identity>> parseIdentityFile(const std::string& text);
Result<X25519Identity> parseIdentity(const std::string& bech32);
// Reads a key file from disk (the error names the path, never the content).
Result<std::vector<X25519Identity>> loadIdentityFile(const std::string& path);

// age1... recipient string <-> 32-byte X25519 public key.
Result<std::array<uint8_t, 32>> parseRecipient(const std::string& bech32);
std::string formatRecipient(const std::array<uint8_t, 32>& pub);
std::string formatIdentity(const X25519Identity& id);  // AGE-SECRET-KEY-1...
X25519Identity generateIdentity();

struct DecryptOutcome {
  Failure failure = Failure::kNone;
  std::string message;  // empty on success; never contains plaintext
  // Authenticated plaintext released before any payload failure (complete on success).
  // Callers outside tests should use decrypt(), which never returns partial output.
  std::string plaintext;
  ~DecryptOutcome();
};

// Low-level decryption of a binary or armored file (armor is detected from the first
// non-whitespace bytes, or forced by `armored`).
DecryptOutcome decryptDetailed(const std::string& file, const Identities& ids, bool armored);
DecryptOutcome decryptDetailed(const std::string& file, const Identities& ids);

// Whole-file decryption: the plaintext or a clear error, never partial output.
Result<SecretString> decrypt(const std::string& file, const Identities& ids);

// Encrypts to X25519 recipients (age1...). armor=true produces the PEM-style text form.
Result<std::string> encrypt(const std::string& plaintext, const std::vector<std::string>& recipients,
                            bool armor);

// ASCII armor (strict, as age's armor package).
Result<std::string> dearmor(const std::string& text);
std::string armor(const std::string& binary);

// Bech32 (BIP-173, no length limit as in age). hrp is returned lowercase.
Result<std::pair<std::string, std::vector<uint8_t>>> bech32Decode(const std::string& s);
std::string bech32Encode(const std::string& hrp, const std::vector<uint8_t>& data);

}  // namespace tend::secrets::age
