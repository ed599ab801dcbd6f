#include "core/secrets.h"

#include <algorithm>
#include <cctype>
#include <string_view>
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
// Values shorter than kShortSecret: matched only as whole values (see isShortMatch).
std::vector<std::string>& shortValues() {
  static std::vector<std::string> v;
  return v;
}
constexpr size_t kShortSecret = 4;

// A short secret ("pw", "7") hidden everywhere as a substring would turn every "a" or "7" of
// every log line into "(secret)". It is hidden where it stands as a value: the whole text
// (one log field, one JSON string), between matching quotes, after '=' (env, query, logfmt),
// or as a URL password (":pw@").
bool isShortMatch(const std::string& text, size_t pos, size_t n) {
  if (pos == 0 && n == text.size()) return true;
  if (pos == 0) return false;
  const char before = text[pos - 1];
  const size_t endPos = pos + n;
  const bool atEnd = endPos == text.size();
  const char after = atEnd ? '\0' : text[endPos];
  switch (before) {
    case '"':
    case '\'':
    case '`': {
      // The same quote closes it (a JSON-escaped \" too); a JSON key ("pw": ...) is no value.
      size_t close = endPos;
      if (after == '\\' && close + 1 < text.size() && text[close + 1] == before) ++close;
      if (close >= text.size() || text[close] != before) return false;
      return close + 1 >= text.size() || text[close + 1] != ':';
    }
    case '=':
      return atEnd || std::isspace(static_cast<unsigned char>(after)) ||
             std::string_view("&,;\"')}]").find(after) != std::string_view::npos;
    case ':':
      return after == '@';
    default:
      return false;
  }
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
  if (s.size() < kShortSecret || std::find(v.begin(), v.end(), s) != v.end()) return;
  v.push_back(s);
}
}  // namespace

void Redactor::add(const std::string& secretValue) {
  if (secretValue.empty()) return;
  std::unique_lock lk(redactMu());
  if (secretValue.size() < kShortSecret) {
    auto& sv = shortValues();
    if (std::find(sv.begin(), sv.end(), secretValue) == sv.end()) sv.push_back(secretValue);
    // Its JSON-escaped form (a quote, a control character) may be long enough to match as is.
    std::string esc = jsonEscaped(secretValue);
    if (esc != secretValue) addOne(redactValues(), esc);
    std::sort(redactValues().begin(), redactValues().end(),
              [](const auto& a, const auto& b) { return a.size() > b.size(); });
    return;
  }
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
  // Short values after long ones: "(secret)" itself holds no quote or '='.
  for (const auto& s : shortValues()) {
    size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      if (isShortMatch(text, pos, s.size())) {
        text.replace(pos, s.size(), "(secret)");
        pos += 8;
      } else {
        pos += 1;
      }
    }
  }
  return text;
}

bool Redactor::containsSecret(const std::string& text) const {
  std::shared_lock lk(redactMu());
  for (const auto& s : redactValues())
    if (text.find(s) != std::string::npos) return true;
  for (const auto& s : shortValues())
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 1))
      if (isShortMatch(text, pos, s.size())) return true;
  return false;
}

void Redactor::clear() {
  std::unique_lock lk(redactMu());
  for (auto& s : redactValues()) OPENSSL_cleanse(s.data(), s.size());
  for (auto& s : shortValues()) OPENSSL_cleanse(s.data(), s.size());
  redactValues().clear();
  shortValues().clear();
}

}  // namespace tend
