#pragma once
// SOPS (+ age) files, read and written natively with OpenSSL (no sops binary at run time).
// Format: getsops/sops stores (YAML, JSON), aes/cipher.go (ENC[AES256_GCM,...] values with the
// key path as additional data), sops.go (MAC = SHA-512 over the plaintext leaves, stored
// encrypted with lastmodified as additional data).
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secrets.h"
#include "core/secrets/age.h"

namespace tend::secrets {

// The key names of a SOPS YAML/JSON file (plaintext in SOPS): no key needed. Top-level keys
// except `sops`; leaves inside nested maps as dotted paths ("app2.db.user").
Result<std::vector<std::string>> sopsKeyNames(const std::string& path);

// A resolver over a SOPS file; the age identity comes from `identityFile`, or when empty
// from TEND_AGE_KEY_FILE, then SOPS_AGE_KEY_FILE. Decryption happens lazily on first get().
// Every decrypted value is registered with the Redactor.
Result<std::unique_ptr<SecretResolver>> openSopsFile(const std::string& path,
                                                     const std::string& identityFile = "");

// --- Lower-level API (tendctl secrets, tests) ---

// Where the age identities come from: `explicitFile` if set, else TEND_AGE_KEY_FILE, else
// SOPS_AGE_KEY_FILE, else SOPS_AGE_KEY (inline), else ~/.config/sops/age/keys.txt.
Result<std::vector<age::X25519Identity>> loadSopsIdentities(const std::string& explicitFile = "");

enum class SopsFormat { kYaml, kJson };
SopsFormat sopsFormatFor(const std::string& path);  // .json -> JSON, otherwise YAML

// One decrypted leaf, in document order.
struct SopsLeaf {
  std::string path;  // dotted name ("app2.db.user"); list items share their list's name
  std::string aad;   // "app2:db:user:"
  std::string type;  // str|int|float|bool|bytes|time ("" when stored in clear)
  SecretString value;
  bool encrypted = false;
};

struct SopsDecrypted {
  std::vector<SopsLeaf> leaves;
  std::string macPlaintext;  // recomputed and verified (uppercase hex SHA-512)
  std::vector<std::string> recipients;  // age recipients of the file
};

// Decrypts a whole SOPS document (text) and verifies its MAC.
Result<SopsDecrypted> decryptSops(const std::string& text, SopsFormat format,
                                  const std::vector<age::X25519Identity>& ids);

// The decrypted document as plain YAML/JSON without the sops block (what `sops -d` prints).
Result<SecretString> decryptSopsToPlain(const std::string& text, SopsFormat format,
                                        const std::vector<age::X25519Identity>& ids);

// Sets one value (dotted name; maps created as needed) in a SOPS file, keeping the data key,
// the other values' ciphertexts and the key order; recomputes the MAC and lastmodified.
// When `path` does not exist a new file is created for `newRecipients` (age1...).
Result<void> sopsSetValue(const std::string& path, const std::string& name,
                          const SecretString& value, const std::vector<age::X25519Identity>& ids,
                          const std::vector<std::string>& newRecipients);

// Re-encrypts an edited plain document (YAML or JSON text, no sops block) into `path`,
// reusing unchanged values' ciphertexts. Returns false when nothing changed.
Result<bool> sopsReplacePlain(const std::string& path, const std::string& plainText,
                              const std::vector<age::X25519Identity>& ids);

// Which values a new file encrypts (sops' --unencrypted-suffix, --encrypted-regex, ...).
struct SopsRules {
  std::string unencryptedSuffix = "_unencrypted";
  std::string encryptedSuffix;
  std::string unencryptedRegex;
  std::string encryptedRegex;
  bool macOnlyEncrypted = false;
};

// Encrypts a plain document for the given recipients (a new SOPS file's text).
Result<std::string> sopsEncryptPlain(const std::string& plainText, SopsFormat format,
                                     const std::vector<std::string>& recipients,
                                     const SopsRules& rules = {});

}  // namespace tend::secrets
