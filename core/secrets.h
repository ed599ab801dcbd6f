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
  // Moves copy then wipe the source: a moved-from std::string keeps short (SSO) contents in
  // its inline buffer, which a later destructor would no longer see.
  SecretString(const SecretString& o) : v_(o.v_) {}
  SecretString& operator=(const SecretString& o);
  SecretString(SecretString&& o) noexcept;
  SecretString& operator=(SecretString&& o) noexcept;
  ~SecretString();
  const std::string& reveal() const { return v_; }
  bool empty() const { return v_.empty(); }

 private:
  void wipe() noexcept;
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
// registered secret values are replaced by "(secret)". A value is also matched in its JSON-
// escaped form (multi-line keys inside a JSON body) and line by line for multi-line values
// (lines of 8+ bytes), so a private key quoted partially in an error is still hidden.
// Values of any length are hidden: from 4 bytes on wherever they occur; shorter ones (which
// occur by chance in any text) where they stand as a value: the whole text, between matching
// quotes, after '=', or as a URL password (":pw@"). Redact before truncating: a cut value is
// no longer recognised.
// Thread-safe, global by design: every sink must pass through it.
class Redactor {
 public:
  static Redactor& instance();
  void add(const std::string& secretValue);  // "" is ignored
  std::string redact(std::string text) const;
  // True when `text` contains a registered value (for tests and assertions in sinks).
  bool containsSecret(const std::string& text) const;
  void clear();

 private:
  Redactor() = default;
};

}  // namespace tend
