#include "core/secrets.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <openssl/crypto.h>

namespace tend {

SecretString::~SecretString() {
  if (!v_.empty()) OPENSSL_cleanse(v_.data(), v_.size());
}

Result<SecretString> substituteSecrets(const std::string& text, const SecretResolver& secrets) {
  static const std::string kOpen = "${secret:";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = text.find(kOpen, pos);
    if (start == std::string::npos) break;
    size_t end = text.find('}', start);
    if (end == std::string::npos) break;
    out.append(text, pos, start - pos);
    std::string name = text.substr(start + kOpen.size(), end - start - kOpen.size());
    auto v = secrets.get(name);
    if (!v) {
      OPENSSL_cleanse(out.data(), out.size());
      return v.error();
    }
    out += v->reveal();
    pos = end + 1;
  }
  out.append(text, pos, std::string::npos);
  SecretString result(std::move(out));
  return result;
}

namespace {
std::shared_mutex& redactMu() {
  static std::shared_mutex mu;
  return mu;
}
std::vector<std::string>& redactValues() {
  static std::vector<std::string> v;
  return v;
}
}  // namespace

Redactor& Redactor::instance() {
  static Redactor r;
  return r;
}

void Redactor::add(const std::string& secretValue) {
  if (secretValue.size() < 4) return;
  std::unique_lock lk(redactMu());
  auto& v = redactValues();
  if (std::find(v.begin(), v.end(), secretValue) != v.end()) return;
  v.push_back(secretValue);
  // Longest first so a secret containing another is replaced whole.
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string Redactor::redact(std::string text) const {
  std::shared_lock lk(redactMu());
  for (const auto& s : redactValues()) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), "(secret)");
      pos += 8;
    }
  }
  return text;
}

void Redactor::clear() {
  std::unique_lock lk(redactMu());
  for (auto& s : redactValues()) OPENSSL_cleanse(s.data(), s.size());
  redactValues().clear();
}

}  // namespace tend
