#include "daemon/server/secrets_holder.h"

#include "core/log.h"

namespace tend::daemon {

void SecretsHolder::use(const std::string& file) {
  std::shared_ptr<SecretResolver> next;
  std::string err;
  if (file.empty()) {
    err = "the spec has no secrets.file";
  } else if (!opener_) {
    err = "secrets are not supported by this build";
  } else {
    auto r = opener_(file, ageKeyFile_);
    if (r.ok()) next = std::shared_ptr<SecretResolver>(std::move(r).value());
    else err = "secrets file " + file + " unavailable: " + r.error().message;
  }
  if (!err.empty() && !file.empty()) log::warn("secrets unavailable; resources that need one will fail", {{"error", err}});
  std::lock_guard lk(mu_);
  file_ = file;
  current_ = std::move(next);
  error_ = err;
}

std::vector<std::string> SecretsHolder::names() const {
  std::lock_guard lk(mu_);
  return current_ ? current_->names() : std::vector<std::string>{};
}

Result<SecretString> SecretsHolder::get(const std::string& name) const {
  std::shared_ptr<SecretResolver> cur;
  std::string err;
  {
    std::lock_guard lk(mu_);
    cur = current_;
    err = error_;
  }
  if (!cur) return makeError("secret '" + name + "' unavailable: " + err, true);
  auto r = cur->get(name);
  if (!r.ok() && ageKeyFile_.empty() && !std::getenv("TEND_AGE_KEY_FILE") && !std::getenv("SOPS_AGE_KEY_FILE"))
    return makeError(r.error().message +
                         " (no age key configured: tendd --age-key-file or TEND_AGE_KEY_FILE)",
                     true);
  return r;
}

}  // namespace tend::daemon
