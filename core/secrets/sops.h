#pragma once
// SOPS (+ age) files, read and written natively with OpenSSL (no sops binary at run time).
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/secrets.h"

namespace tend::secrets {

// The key names of a SOPS YAML/JSON file (plaintext in SOPS): no key needed.
Result<std::vector<std::string>> sopsKeyNames(const std::string& path);

// A resolver over a SOPS file; the age identity comes from `identityFile`, or when empty
// from TEND_AGE_KEY_FILE, then SOPS_AGE_KEY_FILE. Decryption happens lazily on first get().
// Every decrypted value is registered with the Redactor.
Result<std::unique_ptr<SecretResolver>> openSopsFile(const std::string& path,
                                                     const std::string& identityFile = "");

}  // namespace tend::secrets
