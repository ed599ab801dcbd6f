#pragma once
// The engine gets one SecretResolver for its lifetime; the spec's `secrets.file` can change
// with a reload. This resolver forwards to the current one. Without a usable file or age key
// every get() fails with the reason, so only resources that need a secret fail.
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/secrets.h"

namespace tend::daemon {

using SecretsOpener =
    std::function<Result<std::unique_ptr<SecretResolver>>(const std::string& file, const std::string& ageKeyFile)>;

class SecretsHolder final : public SecretResolver {
 public:
  SecretsHolder(SecretsOpener opener, std::string ageKeyFile)
      : opener_(std::move(opener)), ageKeyFile_(std::move(ageKeyFile)) {}
  // Re-opens when the file path changed or its content may have (called on every applied spec).
  void use(const std::string& secretsFile);
  std::vector<std::string> names() const override;
  Result<SecretString> get(const std::string& name) const override;

 private:
  SecretsOpener opener_;
  std::string ageKeyFile_;
  mutable std::mutex mu_;
  std::string file_;
  std::shared_ptr<SecretResolver> current_;
  std::string error_ = "the spec has no secrets.file";
};

}  // namespace tend::daemon
