#pragma once
// Secret resolution seam. Specs keep secrets symbolic ("${secret:NAME}"); a provider resolves
// them only at the moment it needs the value. Implementations: core/secrets/ (SOPS + age).
#include <string>
#include <vector>

#include "core/result.h"

namespace tend {

// A string that wipes its buffer on destruction (OPENSSL_cleanse in the implementation).
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string v) : v_(std::move(v)) {}
  SecretString(const SecretString&) = default;
  SecretString& operator=(const SecretString&) = default;
  SecretString(SecretString&&) noexcept = default;
  SecretString& operator=(SecretString&&) noexcept = default;
  ~SecretString();
  const std::string& reveal() const { return v_; }

 private:
  std::string v_;
};

class SecretResolver {
 public:
  virtual ~SecretResolver() = default;
  // Names available without decrypting (SOPS keeps key names in plaintext).
  virtual std::vector<std::string> names() const = 0;
  virtual Result<SecretString> get(const std::string& name) const = 0;
};

// Replaces every ${secret:NAME} in `text` with its value. Errors name the missing secret.
Result<SecretString> substituteSecrets(const std::string& text, const SecretResolver& secrets);

// Redaction for anything that leaves the process (logs, events, status, plan diffs, errors):
// registered secret values are replaced by "(secret)". Thread-safe, global by design: every
// sink must pass through it.
class Redactor {
 public:
  static Redactor& instance();
  void add(const std::string& secretValue);  // values shorter than 4 bytes are ignored
  std::string redact(std::string text) const;
  void clear();

 private:
  Redactor() = default;
};

}  // namespace tend
