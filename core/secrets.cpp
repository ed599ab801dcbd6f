#include "core/secrets.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <openssl/crypto.h>

namespace tend {

void SecretString::wipe() noexcept {
  if (!v_.empty()) OPENSSL_cleanse(v_.data(), v_.size());
  v_.clear();
}

SecretString::~SecretString() { wipe(); }

SecretString& SecretString::operator=(const SecretString& o) {
  if (this != &o) {
    wipe();
    v_ = o.v_;
  }
  return *this;
}

SecretString::SecretString(SecretString&& o) noexcept : v_(o.v_) { o.wipe(); }

SecretString& SecretString::operator=(SecretString&& o) noexcept {
  if (this != &o) {
    wipe();
    v_ = o.v_;
    o.wipe();
  }
  return *this;
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

namespace {
// The value as it appears inside a JSON string literal (without the quotes).
std::string jsonEscaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

void addOne(std::vector<std::string>& v, const std::string& s) {
  if (s.size() < 4 || std::find(v.begin(), v.end(), s) != v.end()) return;
  v.push_back(s);
}
}  // namespace

void Redactor::add(const std::string& secretValue) {
  if (secretValue.size() < 4) return;
  std::unique_lock lk(redactMu());
  auto& v = redactValues();
  addOne(v, secretValue);
  std::string esc = jsonEscaped(secretValue);
  if (esc != secretValue) addOne(v, esc);
  if (secretValue.find('\n') != std::string::npos) {
    size_t pos = 0;
    while (pos <= secretValue.size()) {
      size_t nl = secretValue.find('\n', pos);
      std::string line = secretValue.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      // Short lines ("-----END", "") would redact ordinary text; only distinctive ones count.
      if (line.size() >= 8 && line.rfind("-----", 0) != 0) addOne(v, line);
      OPENSSL_cleanse(line.data(), line.size());
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  OPENSSL_cleanse(esc.data(), esc.size());
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

bool Redactor::containsSecret(const std::string& text) const {
  std::shared_lock lk(redactMu());
  for (const auto& s : redactValues())
    if (text.find(s) != std::string::npos) return true;
  return false;
}

void Redactor::clear() {
  std::unique_lock lk(redactMu());
  for (auto& s : redactValues()) OPENSSL_cleanse(s.data(), s.size());
  redactValues().clear();
}

}  // namespace tend
