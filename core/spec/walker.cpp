#include "core/spec/walker.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <mutex>
#include <unordered_set>

namespace tend {

FileName::FileName(const std::string& name) {
  // Node-based set: element addresses stay valid as it grows.
  static std::mutex mu;
  static std::unordered_set<std::string>* names = new std::unordered_set<std::string>();  // never destroyed: values may outlive statics
  std::lock_guard lk(mu);
  p_ = &*names->insert(name).first;
}

const std::string& FileName::empty() {
  static const std::string e;
  return e;
}

}  // namespace tend

namespace tend::spec {

bool parseInt(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, out);
  return r.ec == std::errc() && r.ptr == e;
}

bool parseDuration(const std::string& s, int64_t& ms) {
  // 30s, 5m, 1h, 1h30m, 500ms, 2d (Compose and Go style).
  if (s.empty()) return false;
  size_t i = 0;
  int64_t total = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start || i - start > 12) return false;
    int64_t n = std::stoll(s.substr(start, i - start));
    size_t u = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(u, i - u);
    int64_t mul = 0;
    if (unit == "ms") mul = 1;
    else if (unit == "s") mul = 1000;
    else if (unit == "m") mul = 60'000;
    else if (unit == "h") mul = 3'600'000;
    else if (unit == "d") mul = 86'400'000;
    else return false;
    total += n * mul;
  }
  ms = total;
  return true;
}

bool parseSize(const std::string& s, int64_t& bytes) {
  // 512M, 50G, 2g, 1gb, 1GiB, 1024 (bytes).
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0 || i > 15) return false;
  double n = 0;
  try {
    n = std::stod(s.substr(0, i));
  } catch (const std::exception&) {
    return false;
  }
  std::string unit;
  for (size_t j = i; j < s.size(); ++j) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  double mul = 1;
  if (unit.empty()) mul = 1;
  else if (unit == "k") mul = 1024.0;
  else if (unit == "m") mul = 1024.0 * 1024;
  else if (unit == "g") mul = 1024.0 * 1024 * 1024;
  else if (unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
  else return false;
  bytes = static_cast<int64_t>(std::llround(n * mul));
  return true;
}

bool validName(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '-' || s[0] == '.' || s.find("..") != std::string::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

std::string printable(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      out += "\\x";
      out += digits[u >> 4];
      out += digits[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

bool Walker::checkName(const std::string& name, const SpecLoc& at, const std::string& what) {
  if (validName(name)) return true;
  diags_.push_back({Severity::Error, at,
                    "invalid " + what + " name '" + printable(name) +
                        "': use letters, digits, '_', '.' and '-', not starting with '-' or '.', without '..'"});
  return false;
}

void Walker::typeErr(const YNode* v, const std::string& key, const char* what, bool whole) {
  constexpr size_t kShownMax = 40;
  bool shown = v->isScalar() && !whole && v->value.size() <= kShownMax &&
               std::none_of(v->value.begin(), v->value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  std::string got = shown ? "'" + v->value + "'" : v->kindName();
  err(v, "'" + key + "' must be " + what + ", got " + got);
}

bool Walker::needMap(const YNode* v, const std::string& key) {
  if (v->isMap()) return true;
  typeErr(v, key, "a mapping");
  return false;
}

bool Walker::needSeq(const YNode* v, const std::string& key) {
  if (v->isSeq()) return true;
  typeErr(v, key, "a list");
  return false;
}

void Walker::fields(const YNode* map, const std::string& ctx, std::initializer_list<Field> fs,
                    const InlineFn<bool(const YNode*, const YNode*)>& other) {
  for (const auto& [k, v] : map->pairs) {
    if (!k->isScalar()) {
      err(k, "keys must be strings in " + ctx);
      continue;
    }
    bool found = false;
    for (const Field& f : fs) {
      if (k->value == f.key) {
        f.fn(v);
        found = true;
        break;
      }
    }
    if (found || (other && other(k, v))) continue;
    if (composeExtensions_ && k->value.rfind("x-", 0) == 0) continue;  // Compose: x- at any level
    err(k, "unknown key '" + k->value + "' in " + ctx);
  }
}

void Walker::entries(const YNode* map, const std::string& key,
                     const std::function<void(const YNode*, const YNode*)>& fn) {
  if (!needMap(map, key)) return;
  for (const auto& [k, v] : map->pairs) {
    if (!k->isScalar() || k->value.empty()) {
      err(k, "names in '" + key + "' must be non-empty strings");
      continue;
    }
    fn(k, v);
  }
}

Str Walker::str(const YNode* v, const std::string& key) {
  Str s;
  s.loc = loc(v);
  if (!v->isScalar()) {
    typeErr(v, key, "a string");
    return s;
  }
  s.v = v->value;
  s.set = true;
  return s;
}

Val<int64_t> Walker::integer(const YNode* v, const std::string& key, int64_t min, int64_t max) {
  Val<int64_t> r;
  r.loc = loc(v);
  int64_t n = 0;
  if (!v->isScalar() || !parseInt(v->value, n)) {
    typeErr(v, key, "an integer");
    return r;
  }
  if (n < min || n > max) {
    err(v, "'" + key + "' must be between " + std::to_string(min) + " and " + std::to_string(max) +
               ", got " + v->value);
    return r;
  }
  r.v = n;
  r.set = true;
  return r;
}

Val<bool> Walker::boolean(const YNode* v, const std::string& key) {
  Val<bool> r;
  r.loc = loc(v);
  if (v->isScalar() && !v->quoted) {
    const std::string& s = v->value;
    if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "on") r.v = true, r.set = true;
    else if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "off") r.set = true;
  }
  if (!r.set) typeErr(v, key, "true or false");
  return r;
}

Val<int64_t> Walker::durationS(const YNode* v, const std::string& key) {
  Val<int64_t> r;
  r.loc = loc(v);
  int64_t ms = 0;
  if (!v->isScalar() || !parseDuration(v->value, ms)) {
    std::string got = v->isScalar() ? "'" + v->value + "'" : v->kindName();
    err(v, "invalid duration " + got + " for '" + key + "' (use e.g. 30s, 5m, 1h)");
    return r;
  }
  r.v = (ms + 999) / 1000;
  r.set = true;
  return r;
}

Val<int64_t> Walker::sizeBytes(const YNode* v, const std::string& key) {
  Val<int64_t> r;
  r.loc = loc(v);
  int64_t b = 0;
  if (!v->isScalar() || !parseSize(v->value, b)) {
    std::string got = v->isScalar() ? "'" + v->value + "'" : v->kindName();
    err(v, "invalid size " + got + " for '" + key + "' (use e.g. 512M, 50G)");
    return r;
  }
  r.v = b;
  r.set = true;
  return r;
}

std::vector<Str> Walker::strList(const YNode* v, const std::string& key) {
  std::vector<Str> out;
  if (!needSeq(v, key)) return out;
  out.reserve(v->items.size());
  for (const YNode* it : v->items) {
    Str s = str(it, key + " entry");
    if (s.set) out.push_back(std::move(s));
  }
  return out;
}

std::vector<Str> Walker::strOrList(const YNode* v, const std::string& key) {
  if (v->isScalar()) return {str(v, key)};
  return strList(v, key);
}

nlohmann::json Walker::toJson(const YNode* v) {
  switch (v->kind) {
    case YNode::Kind::Null: return nullptr;
    case YNode::Kind::Scalar: {
      if (!v->quoted) {
        const std::string& s = v->value;
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
        int64_t n = 0;
        if (parseInt(s, n)) return n;
      }
      return v->value;
    }
    case YNode::Kind::Seq: {
      nlohmann::json a = nlohmann::json::array();
      for (const YNode* i : v->items) a.push_back(toJson(i));
      return a;
    }
    case YNode::Kind::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [k, x] : v->pairs) o[k->value] = toJson(x);
      return o;
    }
  }
  return nullptr;
}

}  // namespace tend::spec
