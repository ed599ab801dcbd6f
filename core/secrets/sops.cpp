#include "core/secrets/sops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include "core/secrets/crypto.h"

namespace tend::secrets {
namespace {

using Json = nlohmann::ordered_json;
using crypto::wipe;

constexpr size_t kSopsIvSize = 32;  // sops aes/cipher.go nonceSize
constexpr char kDefaultVersion[] = "3.9.4";

// --- generic helpers -------------------------------------------------------------------------

void wipeJson(Json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    wipe(s);
  } else if (j.is_structured()) {
    for (auto& [k, v] : j.items()) wipeJson(v);
  }
}

// A Json tree that wipes its strings on destruction (it may hold decrypted values).
struct WipedJson {
  Json j;
  ~WipedJson() { wipeJson(j); }
};

Result<std::string> readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return makeError("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Result<void> writeAtomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path p(path);
  mode_t mode = 0600;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  std::string tmp = (p.parent_path() / ("." + p.filename().string() + ".tend-tmp")).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return makeError("cannot write " + tmp);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return makeError("write failed: " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return makeError("cannot replace " + path);
  }
  return {};
}

std::string formatFloatGo(double d) {
  // strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent.
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (std::isnan(d)) return "NaN";
  char buf[512];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

// Float text that a YAML parser reads back as a float (for plain output).
std::string formatFloatYaml(double d) {
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  if (std::isnan(d)) return ".nan";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// sops ToBytes: the bytes hashed into the MAC and encrypted for a typed value.
std::string toBytes(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_float()) return formatFloatGo(v.get<double>());
  return "";
}

std::string sopsType(const Json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer() || v.is_number_unsigned()) return "int";
  if (v.is_number_float()) return "float";
  return "str";
}

// The value as a program wants it (`sops -d --extract` prints YAML booleans lowercase).
std::string displayValue(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return toBytes(v);
}

// --- YAML <-> Json ---------------------------------------------------------------------------

bool parseGoInt(const std::string& s, int64_t& out) {
  // yaml.v3 resolves plain ints with strconv.ParseInt(s, 0, 64) (0x, 0o, 0b, leading-0 octal).
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return false;
  int base = 10;
  if (s.size() - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) base = 16, i += 2;
  else if (s.size() - i > 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) base = 8, i += 2;
  else if (s.size() - i > 2 && s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'B')) base = 2, i += 2;
  else if (s.size() - i > 1 && s[i] == '0') base = 8, i += 1;
  uint64_t v = 0;
  auto r = std::from_chars(s.data() + i, s.data() + s.size(), v, base);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
  if (neg) {
    if (v > uint64_t{1} << 63) return false;
    out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(v);
  }
  return true;
}

// YAML 1.2 core float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, plus .inf/.nan.
bool isYamlFloat(const std::string& s) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i - start;
  };
  if (i < n && (s[i] == '+' || s[i] == '-')) i++;
  if (i < n && s[i] == '.') {
    i++;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < n && s[i] == '.') {
      i++;
      digits();
    }
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (digits() == 0) return false;
  }
  return i == n;
}

bool parseYamlFloat(const std::string& s, double& out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF") {
    out = INFINITY;
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    out = -INFINITY;
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    out = NAN;
    return true;
  }
  if (!isYamlFloat(s)) return false;
  out = std::strtod(s.c_str(), nullptr);
  return true;
}

// A plain (unquoted) scalar resolved the way yaml.v3 decodes it into interface{}.
Json resolvePlain(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
  int64_t i = 0;
  if (parseGoInt(s, i)) return i;
  double d = 0;
  if (parseYamlFloat(s, d)) return d;
  return s;
}

// Limits on a document, as for spec files (core/spec/ytree.h): yaml-cpp shares an aliased
// node, so an alias inside the collection it names is a cycle, and a few aliases of aliases
// repeat a node millions of times. Both are refused here, before any walk of the document.
constexpr int kMaxDocDepth = 64;
constexpr uint64_t kMaxDocNodes = 1000000;

struct DocBudget {
  uint64_t nodes = 0;
};

Result<void> spend(DocBudget& b, int depth, int line) {
  std::string at = line > 0 ? "line " + std::to_string(line) + ": " : "";
  if (depth > kMaxDocDepth)
    return makeError(at + "nested deeper than " + std::to_string(kMaxDocDepth) + " levels (or a recursive alias)");
  if (++b.nodes > kMaxDocNodes)
    return makeError(at + "more than " + std::to_string(kMaxDocNodes) + " nodes, aliases counted as what they repeat");
  return {};
}

Result<Json> yamlToJson(const YAML::Node& n, DocBudget& budget, int depth) {
  if (auto r = spend(budget, depth, n.Mark().line + 1); !r) return makeError(r.error().message);
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = n.Tag();
      if (tag == "?") return resolvePlain(n.Scalar());
      if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
          tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null")
        return resolvePlain(n.Scalar());
      return Json(n.Scalar());
    }
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : n) {
        auto v = yamlToJson(item, budget, depth + 1);
        if (!v) return v;
        arr.push_back(std::move(*v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar())
          return makeError("line " + std::to_string(kv.first.Mark().line + 1) + ": only string keys are supported");
        std::string key = kv.first.Scalar();
        if (obj.contains(key))
          return makeError("line " + std::to_string(kv.first.Mark().line + 1) + ": duplicate key " + key);
        auto v = yamlToJson(kv.second, budget, depth + 1);
        if (!v) return v;
        obj[key] = std::move(*v);
      }
      return obj;
    }
  }
  return Json(nullptr);
}

Result<Json> parseDocument(const std::string& text, SopsFormat format) {
  if (format == SopsFormat::kJson) {
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded()) return makeError("invalid JSON");
    if (!j.is_object()) return makeError("a SOPS JSON document must be an object");
    // The walks below recurse: the same depth limit as YAML, checked without recursing.
    DocBudget budget;
    std::vector<std::pair<const Json*, int>> todo = {{&j, 1}};
    while (!todo.empty()) {
      auto [v, depth] = todo.back();
      todo.pop_back();
      if (auto r = spend(budget, depth, 0); !r) return makeError(r.error().message);
      if (v->is_structured())
        for (const auto& x : *v) todo.emplace_back(&x, depth + 1);
    }
    return j;
  }
  try {
    YAML::Node n = YAML::Load(text);
    if (n.IsNull()) return Json::object();
    if (!n.IsMap()) return makeError("a SOPS YAML document must be a map");
    DocBudget budget;
    return yamlToJson(n, budget, 1);
  } catch (const YAML::Exception& e) {
    // yaml-cpp messages carry the position and the reason, not the document's content.
    return makeError("invalid YAML: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

bool yamlPlainSafe(const std::string& s) {
  if (s.empty()) return false;
  // YAML indicators cannot start a plain scalar.
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` \t").find(s[0]) != std::string_view::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  if (!resolvePlain(s).is_string()) return false;
  static const char* kAmbiguous[] = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off",
                                     "YES", "NO", "ON", "OFF", "Y", "N"};
  for (const char* w : kAmbiguous)
    if (s == w) return false;
  // Timestamps stay strings in yaml.v3 but quoting them matches what sops writes.
  static const std::regex kDate(R"(^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)");
  return !std::regex_match(s, kDate);
}

std::string yamlQuoted(const std::string& s) { return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string yamlScalar(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_float()) return formatFloatYaml(v.get<double>());
  const auto& s = v.get_ref<const std::string&>();
  return yamlPlainSafe(s) ? s : yamlQuoted(s);
}

bool literalOk(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n') return false;
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  // A literal block cannot hold trailing spaces on its last line reliably.
  return true;
}

void emitYamlValue(std::string& out, const Json& v, int indent, bool inSeqMap);

void emitLiteral(std::string& out, const std::string& s, int contentIndent) {
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') trailing++;
  out += trailing == 0 ? "|-" : (trailing == 1 ? "|" : "|+");
  out += "\n";
  std::string body = s.substr(0, s.size() - trailing);
  std::istringstream in(body);
  std::string line;
  std::string pad(contentIndent, ' ');
  while (std::getline(in, line)) {
    if (line.empty()) out += "\n";
    else out += pad + line + "\n";
  }
  for (size_t i = 1; i < trailing; i++) out += "\n";
}

void emitYamlMap(std::string& out, const Json& obj, int indent, bool firstInline, bool inSeqMap) {
  bool first = true;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!(first && firstInline)) out += std::string(indent, ' ');
    first = false;
    out += yamlScalar(Json(it.key())) + ":";
    emitYamlValue(out, it.value(), indent, inSeqMap);
  }
}

// Emits " value\n" or a nested block after "key:".
void emitYamlValue(std::string& out, const Json& v, int indent, bool inSeqMap) {
  if (v.is_object()) {
    if (v.empty()) {
      out += " {}\n";
      return;
    }
    out += "\n";
    emitYamlMap(out, v, indent + 4, false, false);
  } else if (v.is_array()) {
    if (v.empty()) {
      out += " []\n";
      return;
    }
    out += "\n";
    for (const auto& item : v) {
      out += std::string(indent + 4, ' ') + "- ";
      if (item.is_object() && !item.empty()) {
        emitYamlMap(out, item, indent + 6, true, true);
      } else if (item.is_array() || item.is_object()) {
        out += item.dump() + "\n";  // flow JSON is valid YAML
      } else if (item.is_string() && literalOk(item.get_ref<const std::string&>())) {
        emitLiteral(out, item.get_ref<const std::string&>(), indent + 6);
      } else {
        out += yamlScalar(item) + "\n";
      }
    }
  } else if (v.is_string() && literalOk(v.get_ref<const std::string&>())) {
    out += " ";
    emitLiteral(out, v.get_ref<const std::string&>(), indent + (inSeqMap ? 2 : 4));
  } else {
    out += " " + yamlScalar(v) + "\n";
  }
}

std::string emitDocument(const Json& doc, SopsFormat format) {
  if (format == SopsFormat::kJson) return doc.dump(4) + "\n";
  std::string out;
  if (doc.empty()) return "{}\n";
  emitYamlMap(out, doc, 0, false, false);
  return out;
}

// --- SOPS metadata and values ----------------------------------------------------------------

struct Metadata {
  std::string lastModified;
  std::string mac;
  std::string unencryptedSuffix;
  std::string encryptedSuffix;
  std::string unencryptedRegex;
  std::string encryptedRegex;
  bool macOnlyEncrypted = false;
  std::vector<std::pair<std::string, std::string>> age;  // recipient, enc
};

Result<Metadata> readMetadata(const Json& doc) {
  if (!doc.contains("sops") || !doc["sops"].is_object())
    return makeError("not a SOPS file (no sops metadata block)");
  const Json& s = doc["sops"];
  Metadata m;
  auto str = [&](const char* k) -> std::string {
    if (!s.contains(k) || s[k].is_null()) return "";
    return s[k].is_string() ? s[k].get<std::string>() : s[k].dump();
  };
  m.lastModified = str("lastmodified");
  m.mac = str("mac");
  m.unencryptedSuffix = str("unencrypted_suffix");
  m.encryptedSuffix = str("encrypted_suffix");
  m.unencryptedRegex = str("unencrypted_regex");
  m.encryptedRegex = str("encrypted_regex");
  if (s.contains("mac_only_encrypted") && s["mac_only_encrypted"].is_boolean())
    m.macOnlyEncrypted = s["mac_only_encrypted"].get<bool>();
  if (!str("unencrypted_comment_regex").empty() || !str("encrypted_comment_regex").empty())
    return makeError("SOPS files using unencrypted_comment_regex/encrypted_comment_regex are not supported");
  if (s.contains("key_groups") && !s["key_groups"].is_null() && !s["key_groups"].empty())
    return makeError("SOPS key_groups (Shamir secret sharing) are not supported; use plain age recipients");
  if (s.contains("age") && s["age"].is_array()) {
    for (const auto& a : s["age"]) {
      if (!a.is_object()) continue;
      m.age.emplace_back(a.value("recipient", ""), a.value("enc", ""));
    }
  }
  if (m.unencryptedSuffix.empty() && m.encryptedSuffix.empty() && m.unencryptedRegex.empty() &&
      m.encryptedRegex.empty())
    m.unencryptedSuffix = "_unencrypted";  // sops' default when none is recorded
  return m;
}

bool shouldBeEncrypted(const Metadata& m, const std::vector<std::string>& path) {
  bool encrypted = true;
  auto anyComponent = [&](auto&& pred) {
    for (const auto& p : path)
      if (pred(p)) return true;
    return false;
  };
  auto endsWith = [](const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (!m.unencryptedSuffix.empty() && anyComponent([&](const std::string& p) { return endsWith(p, m.unencryptedSuffix); }))
    encrypted = false;
  if (!m.encryptedSuffix.empty())
    encrypted = anyComponent([&](const std::string& p) { return endsWith(p, m.encryptedSuffix); });
  // Go's regexp.Match is an unanchored search, like std::regex_search.
  if (!m.unencryptedRegex.empty()) {
    std::regex re(m.unencryptedRegex);
    if (anyComponent([&](const std::string& p) { return std::regex_search(p, re); })) encrypted = false;
  }
  if (!m.encryptedRegex.empty()) {
    std::regex re(m.encryptedRegex);
    encrypted = anyComponent([&](const std::string& p) { return std::regex_search(p, re); });
  }
  return encrypted;
}

struct EncValue {
  std::string data, iv, tag, type;
};

std::optional<EncValue> parseEnc(const std::string& s) {
  static const std::string kPrefix = "ENC[AES256_GCM,data:";
  if (s.compare(0, kPrefix.size(), kPrefix) != 0 || s.back() != ']') return std::nullopt;
  std::string body = s.substr(kPrefix.size(), s.size() - kPrefix.size() - 1);
  size_t t = body.rfind(",type:");
  if (t == std::string::npos) return std::nullopt;
  size_t g = body.rfind(",tag:", t);
  if (g == std::string::npos) return std::nullopt;
  size_t i = body.rfind(",iv:", g);
  if (i == std::string::npos) return std::nullopt;
  auto data = crypto::base64Decode(body.substr(0, i), true);
  auto iv = crypto::base64Decode(body.substr(i + 4, g - i - 4), true);
  auto tag = crypto::base64Decode(body.substr(g + 5, t - g - 5), true);
  if (!data || !iv || !tag || iv->empty() || tag->size() != 16) return std::nullopt;
  return EncValue{*data, *iv, *tag, body.substr(t + 6)};
}

std::string formatEnc(const std::string& ct, const std::string& iv, const std::string& tag,
                      const std::string& type) {
  return "ENC[AES256_GCM,data:" + crypto::base64Encode(ct, true) + ",iv:" + crypto::base64Encode(iv, true) +
         ",tag:" + crypto::base64Encode(tag, true) + ",type:" + type + "]";
}

std::string encryptScalar(const std::string& key, const std::string& plaintext, const std::string& aad,
                          const std::string& type) {
  std::string iv = crypto::randomBytes(kSopsIvSize);
  std::string ct, tag;
  if (!crypto::aesGcmSeal(key, iv, plaintext, aad, ct, tag)) throw std::runtime_error("AES-GCM failed");
  return formatEnc(ct, iv, tag, type);
}

// Decrypts one ENC[...] string into a typed Json value. Messages never contain the value.
Result<Json> decryptScalar(const std::string& key, const std::string& enc, const std::string& aad,
                           std::string* typeOut) {
  auto e = parseEnc(enc);
  if (!e) return makeError("value is not in sops' ENC[AES256_GCM,...] format");
  auto pt = crypto::aesGcmOpen(key, e->iv, e->data, e->tag, aad);
  if (!pt) return makeError("value failed to authenticate (tampered, moved to another key, or wrong data key)");
  if (typeOut) *typeOut = e->type;
  Json out;
  if (e->type == "str" || e->type == "bytes" || e->type == "time") {
    out = std::move(*pt);
  } else if (e->type == "int") {
    int64_t v = 0;
    auto r = std::from_chars(pt->data(), pt->data() + pt->size(), v);
    bool ok = r.ec == std::errc() && r.ptr == pt->data() + pt->size();
    wipe(*pt);
    if (!ok) return makeError("encrypted int value does not parse");
    out = v;
  } else if (e->type == "float") {
    char* end = nullptr;
    double v = std::strtod(pt->c_str(), &end);
    bool ok = !pt->empty() && end == pt->c_str() + pt->size();
    wipe(*pt);
    if (!ok) return makeError("encrypted float value does not parse");
    out = v;
  } else if (e->type == "bool") {
    const std::string& s = *pt;
    bool t = s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True";
    bool f = s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False";
    wipe(*pt);
    if (!t && !f) return makeError("encrypted bool value does not parse");
    out = t;
  } else {
    wipe(*pt);
    return makeError("unsupported sops value type " + e->type);
  }
  return out;
}

std::string lastModifiedAad(const std::string& lm) {
  // Go parses then re-formats with time.RFC3339, which drops fractional seconds.
  static const std::regex kFrac(R"(^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d+(.*)$)");
  std::smatch m;
  if (std::regex_match(lm, m, kFrac)) return m[1].str() + m[2].str();
  return lm;
}

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string joinPath(const std::vector<std::string>& path, const char* sep) {
  std::string s;
  for (size_t i = 0; i < path.size(); i++) s += (i ? sep : "") + path[i];
  return s;
}

class Sha512 {
 public:
  Sha512() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha512(), nullptr); }
  ~Sha512() { EVP_MD_CTX_free(ctx_); }
  Sha512(const Sha512&) = delete;
  Sha512& operator=(const Sha512&) = delete;
  void update(const std::string& s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string hexUpper() {
    unsigned char d[64];
    unsigned int len = 64;
    EVP_DigestFinal_ex(ctx_, d, &len);
    return crypto::toHex(std::string(reinterpret_cast<char*>(d), 64), true);
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string macSeed() { return crypto::sha256("sops"); }  // sops MACOnlyEncryptedInitialization

// An encrypted leaf remembered so an unchanged value keeps its ciphertext on rewrite.
struct PriorCipher {
  std::string type;
  std::string bytes;  // plaintext bytes (wiped)
  std::string enc;
  ~PriorCipher() { wipe(bytes); }
};
using PriorMap = std::map<std::string, PriorCipher>;  // JSON pointer -> prior

struct DecryptWalk {
  const Metadata& meta;
  const std::string& key;
  Sha512 mac;
  std::vector<SopsLeaf>* leaves = nullptr;
  PriorMap* prior = nullptr;

  void start() {
    // sops MACOnlyEncryptedInitialization = sha256("sops"): keeps the two MAC modes distinct.
    if (meta.macOnlyEncrypted) mac.update(macSeed());
  }

  Result<void> walk(Json& v, std::vector<std::string>& path, const std::string& pointer) {
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        path.push_back(it.key());
        auto r = walk(it.value(), path, pointer + "/" + it.key());
        path.pop_back();
        if (!r) return r;
      }
      return {};
    }
    if (v.is_array()) {
      for (size_t i = 0; i < v.size(); i++) {
        auto r = walk(v[i], path, pointer + "/" + std::to_string(i));
        if (!r) return r;
      }
      return {};
    }
    if (v.is_null()) return {};
    bool encrypted = shouldBeEncrypted(meta, path);
    std::string aad = joinPath(path, ":") + ":";
    std::string type;
    if (encrypted) {
      if (!v.is_string())
        return makeError("value at " + joinPath(path, ".") + " should be encrypted but is stored in clear");
      const std::string& enc = v.get_ref<const std::string&>();
      if (!enc.empty()) {
        auto d = decryptScalar(key, enc, aad, &type);
        if (!d) return makeError("cannot decrypt " + joinPath(path, ".") + ": " + d.error().message);
        if (prior) {
          auto& p = (*prior)[pointer];
          p.type = type;
          p.bytes = toBytes(*d);
          p.enc = enc;
        }
        v = std::move(*d);
      }
    }
    std::string bytes = toBytes(v);
    if (!meta.macOnlyEncrypted || encrypted) mac.update(bytes);
    if (leaves) {
      SopsLeaf leaf;
      leaf.path = joinPath(path, ".");
      leaf.aad = aad;
      leaf.type = encrypted ? (type.empty() ? "str" : type) : "";
      leaf.value = SecretString(displayValue(v));
      leaf.encrypted = encrypted;
      leaves->push_back(std::move(leaf));
    }
    wipe(bytes);
    return {};
  }
};

struct EncryptWalk {
  const Metadata& meta;
  const std::string& key;
  Sha512 mac;
  const PriorMap* prior = nullptr;

  void start() {
    if (meta.macOnlyEncrypted) mac.update(macSeed());
  }

  void walk(Json& v, std::vector<std::string>& path, const std::string& pointer) {
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        path.push_back(it.key());
        walk(it.value(), path, pointer + "/" + it.key());
        path.pop_back();
      }
      return;
    }
    if (v.is_array()) {
      for (size_t i = 0; i < v.size(); i++) walk(v[i], path, pointer + "/" + std::to_string(i));
      return;
    }
    if (v.is_null()) return;
    bool encrypted = shouldBeEncrypted(meta, path);
    std::string bytes = toBytes(v);
    if (!meta.macOnlyEncrypted || encrypted) mac.update(bytes);
    if (encrypted && !(v.is_string() && bytes.empty())) {
      std::string type = sopsType(v);
      std::string enc;
      if (prior) {
        auto it = prior->find(pointer);
        if (it != prior->end() && it->second.type == type && it->second.bytes == bytes) enc = it->second.enc;
      }
      if (enc.empty()) enc = encryptScalar(key, bytes, joinPath(path, ":") + ":", type);
      wipeJson(v);
      v = enc;
    }
    wipe(bytes);
  }
};

Result<std::string> recoverDataKey(const Metadata& m, const std::vector<age::X25519Identity>& ids) {
  if (m.age.empty()) return makeError("the SOPS file has no age recipients (only age is supported)");
  if (ids.empty()) return makeError("no age identity available (set TEND_AGE_KEY_FILE or SOPS_AGE_KEY_FILE)");
  age::Identities idset;
  idset.x25519 = ids;
  for (const auto& [recipient, enc] : m.age) {
    auto r = age::decrypt(enc, idset);
    if (r.ok()) {
      if (r->reveal().size() != 32) return makeError("age recipient " + recipient + " holds a malformed data key");
      return r->reveal();
    }
  }
  std::string rs;
  for (const auto& a : m.age) rs += (rs.empty() ? "" : ", ") + a.first;
  return makeError("none of the given age identities can decrypt this file (recipients: " + rs + ")");
}

struct Opened {
  WipedJson doc;   // decrypted tree (sops block removed)
  Json sopsBlock;  // metadata as stored
  Metadata meta;
  std::string dataKey;
  PriorMap prior;
  std::vector<SopsLeaf> leaves;
  std::string macHex;
  ~Opened() { wipe(dataKey); }
};

Result<void> openAndVerify(const std::string& text, SopsFormat format,
                           const std::vector<age::X25519Identity>& ids, Opened& o) {
  auto doc = parseDocument(text, format);
  if (!doc) return doc.error();
  auto meta = readMetadata(*doc);
  if (!meta) return meta.error();
  o.meta = *meta;
  o.sopsBlock = (*doc)["sops"];
  doc->erase("sops");
  o.doc.j = std::move(*doc);
  auto key = recoverDataKey(o.meta, ids);
  if (!key) return key.error();
  o.dataKey = std::move(*key);
  DecryptWalk w{o.meta, o.dataKey, {}, &o.leaves, &o.prior};
  std::vector<std::string> path;
  w.start();
  auto r = w.walk(o.doc.j, path, "");
  if (!r) return r;
  o.macHex = w.mac.hexUpper();
  if (o.meta.mac.empty()) return makeError("SOPS file has no MAC");
  auto stored = decryptScalar(o.dataKey, o.meta.mac, lastModifiedAad(o.meta.lastModified), nullptr);
  if (!stored || !stored->is_string())
    return makeError("SOPS MAC cannot be decrypted (tampered mac or lastmodified)");
  if (stored->get<std::string>() != o.macHex)
    return makeError("SOPS MAC mismatch: the file's values were modified outside sops/tend");
  return {};
}

// Finalises a document: encrypts `plain` (reusing prior ciphertexts), writes a new MAC and
// lastmodified into the sops block and returns the file text.
std::string seal(Json plain, Json sopsBlock, const Metadata& meta, const std::string& dataKey,
                 const PriorMap* prior, SopsFormat format) {
  EncryptWalk w{meta, dataKey, {}, prior};
  std::vector<std::string> path;
  w.start();
  w.walk(plain, path, "");
  std::string macHex = w.mac.hexUpper();
  std::string lm = nowRfc3339();
  sopsBlock["lastmodified"] = lm;
  sopsBlock["mac"] = encryptScalar(dataKey, macHex, lm, "str");
  plain["sops"] = std::move(sopsBlock);
  return emitDocument(plain, format);
}

Json newSopsBlock(const std::vector<std::string>& recipients, const std::string& dataKey,
                  const SopsRules& rules = {}) {
  Json block = Json::object();
  Json ages = Json::array();
  for (const auto& r : recipients) {
    auto enc = age::encrypt(dataKey, {r}, true);
    if (!enc) throw std::runtime_error(enc.error().message);
    ages.push_back(Json{{"recipient", r}, {"enc", *enc}});
  }
  block["age"] = ages;
  block["lastmodified"] = "";
  block["mac"] = "";
  // Same field order as sops' stores.Metadata.
  if (!rules.unencryptedSuffix.empty()) block["unencrypted_suffix"] = rules.unencryptedSuffix;
  if (!rules.encryptedSuffix.empty()) block["encrypted_suffix"] = rules.encryptedSuffix;
  if (!rules.unencryptedRegex.empty()) block["unencrypted_regex"] = rules.unencryptedRegex;
  if (!rules.encryptedRegex.empty()) block["encrypted_regex"] = rules.encryptedRegex;
  if (rules.macOnlyEncrypted) block["mac_only_encrypted"] = true;
  block["version"] = kDefaultVersion;
  return block;
}

Result<Json*> navigate(Json& root, const std::string& name, bool create) {
  if (root.contains(name)) return &root[name];
  Json* cur = &root;
  size_t pos = 0;
  while (true) {
    size_t dot = name.find('.', pos);
    std::string part = name.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (part.empty()) return makeError("invalid secret name: " + name);
    if (!cur->is_object()) {
      if (!create) return makeError("secret " + name + " not found");
      if (!cur->is_null()) return makeError("cannot set " + name + ": a parent is not a map");
      *cur = Json::object();
    }
    if (!cur->contains(part)) {
      if (!create) return makeError("secret " + name + " not found");
      (*cur)[part] = dot == std::string::npos ? Json() : Json::object();
    }
    cur = &(*cur)[part];
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

void collectNames(const Json& v, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (prefix.empty() && it.key() == "sops") continue;
    std::string name = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object() && !it.value().empty()) collectNames(it.value(), name, out);
    else out.push_back(name);
  }
}

class SopsResolver : public SecretResolver {
 public:
  SopsResolver(std::string path, std::string identityFile, std::vector<std::string> names)
      : path_(std::move(path)), identityFile_(std::move(identityFile)), names_(std::move(names)) {}

  std::vector<std::string> names() const override { return names_; }

  Result<SecretString> get(const std::string& name) const override {
    std::lock_guard lk(mu_);
    if (!loaded_) {
      auto r = load();
      if (!r) return r.error();
      loaded_ = true;
    }
    auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    if (std::find(names_.begin(), names_.end(), name) == names_.end())
      return makeError("unknown secret " + name + " (not in " + path_ + ")");
    return makeError("secret " + name + " is a list or empty map; name a single value");
  }

 private:
  Result<void> load() const {
    auto ids = loadSopsIdentities(identityFile_);
    if (!ids) return ids.error();
    auto text = readText(path_);
    if (!text) return text.error();
    Opened o;
    auto r = openAndVerify(*text, sopsFormatFor(path_), *ids, o);
    wipe(*text);
    if (!r) return makeError(path_ + ": " + r.error().message);
    std::map<std::string, int> count;
    for (const auto& l : o.leaves) count[l.path]++;
    for (const auto& l : o.leaves) {
      if (count[l.path] != 1) continue;  // list items share a name
      Redactor::instance().add(l.value.reveal());
      values_.emplace(l.path, l.value);
    }
    return {};
  }

  std::string path_, identityFile_;
  std::vector<std::string> names_;
  mutable std::mutex mu_;
  mutable bool loaded_ = false;
  mutable std::map<std::string, SecretString> values_;
};

}  // namespace

SopsFormat sopsFormatFor(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  return ext == ".json" ? SopsFormat::kJson : SopsFormat::kYaml;
}

Result<std::vector<std::string>> sopsKeyNames(const std::string& path) {
  auto text = readText(path);
  if (!text) return text.error();
  auto doc = parseDocument(*text, sopsFormatFor(path));
  if (!doc) return makeError(path + ": " + doc.error().message);
  if (!doc->contains("sops")) return makeError(path + ": not a SOPS file (no sops metadata block)");
  std::vector<std::string> names;
  collectNames(*doc, "", names);
  return names;
}

Result<std::vector<age::X25519Identity>> loadSopsIdentities(const std::string& explicitFile) {
  if (!explicitFile.empty()) return age::loadIdentityFile(explicitFile);
  for (const char* env : {"TEND_AGE_KEY_FILE", "SOPS_AGE_KEY_FILE"}) {
    const char* v = std::getenv(env);
    if (v && *v) return age::loadIdentityFile(v);
  }
  if (const char* inl = std::getenv("SOPS_AGE_KEY"); inl && *inl) {
    auto ids = age::parseIdentityFile(inl);
    if (!ids) return makeError("SOPS_AGE_KEY: " + ids.error().message);
    return ids;
  }
  std::string cfg;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) cfg = x;
  else if (const char* h = std::getenv("HOME"); h && *h) cfg = std::string(h) + "/.config";
  if (!cfg.empty() && std::filesystem::exists(cfg + "/sops/age/keys.txt"))
    return age::loadIdentityFile(cfg + "/sops/age/keys.txt");
  return makeError("no age key: set TEND_AGE_KEY_FILE (or SOPS_AGE_KEY_FILE) to an age-keygen key file");
}

Result<std::unique_ptr<SecretResolver>> openSopsFile(const std::string& path, const std::string& identityFile) {
  auto names = sopsKeyNames(path);
  if (!names) return names.error();
  std::unique_ptr<SecretResolver> r = std::make_unique<SopsResolver>(path, identityFile, std::move(*names));
  return r;
}

Result<SopsDecrypted> decryptSops(const std::string& text, SopsFormat format,
                                  const std::vector<age::X25519Identity>& ids) {
  Opened o;
  auto r = openAndVerify(text, format, ids, o);
  if (!r) return r.error();
  SopsDecrypted d;
  d.leaves = std::move(o.leaves);
  d.macPlaintext = o.macHex;
  for (const auto& a : o.meta.age) d.recipients.push_back(a.first);
  return d;
}

Result<SecretString> decryptSopsToPlain(const std::string& text, SopsFormat format,
                                        const std::vector<age::X25519Identity>& ids) {
  Opened o;
  auto r = openAndVerify(text, format, ids, o);
  if (!r) return r.error();
  SecretString s(emitDocument(o.doc.j, format));
  return s;
}

Result<void> sopsSetValue(const std::string& path, const std::string& name, const SecretString& value,
                          const std::vector<age::X25519Identity>& ids,
                          const std::vector<std::string>& newRecipients) {
  if (name.empty() || name == "sops") return makeError("invalid secret name: " + name);
  SopsFormat format = sopsFormatFor(path);
  try {
    if (!std::filesystem::exists(path)) {
      if (newRecipients.empty()) return makeError(path + " does not exist and no age recipients were given");
      for (const auto& r : newRecipients)
        if (!age::parseRecipient(r)) return makeError("malformed age recipient: " + r);
      std::string dataKey = crypto::randomBytes(32);
      WipedJson plain;
      plain.j = Json::object();
      auto slot = navigate(plain.j, name, true);
      if (!slot) return slot.error();
      **slot = value.reveal();
      Json block = newSopsBlock(newRecipients, dataKey);
      auto meta = readMetadata(Json{{"sops", block}});
      std::string text = seal(plain.j, block, *meta, dataKey, nullptr, format);
      wipe(dataKey);
      return writeAtomic(path, text);
    }
    auto text = readText(path);
    if (!text) return text.error();
    Opened o;
    auto r = openAndVerify(*text, format, ids, o);
    if (!r) return makeError(path + ": " + r.error().message);
    auto slot = navigate(o.doc.j, name, true);
    if (!slot) return slot.error();
    if ((*slot)->is_structured() && !(*slot)->empty())
      return makeError("cannot set " + name + ": it is a map or list in " + path);
    wipeJson(**slot);
    **slot = value.reveal();
    std::string out = seal(o.doc.j, o.sopsBlock, o.meta, o.dataKey, &o.prior, format);
    return writeAtomic(path, out);
  } catch (const std::exception& e) {
    return makeError(std::string("cannot encrypt: ") + e.what());
  }
}

Result<bool> sopsReplacePlain(const std::string& path, const std::string& plainText,
                              const std::vector<age::X25519Identity>& ids) {
  SopsFormat format = sopsFormatFor(path);
  auto text = readText(path);
  if (!text) return text.error();
  Opened o;
  auto r = openAndVerify(*text, format, ids, o);
  if (!r) return makeError(path + ": " + r.error().message);
  auto edited = parseDocument(plainText, format);
  if (!edited) return makeError("edited document: " + edited.error().message);
  WipedJson e;
  e.j = std::move(*edited);
  if (e.j.contains("sops")) e.j.erase("sops");
  if (e.j == o.doc.j) return false;
  try {
    std::string out = seal(e.j, o.sopsBlock, o.meta, o.dataKey, &o.prior, format);
    auto w = writeAtomic(path, out);
    if (!w) return w.error();
  } catch (const std::exception& ex) {
    return makeError(std::string("cannot encrypt: ") + ex.what());
  }
  return true;
}

Result<std::string> sopsEncryptPlain(const std::string& plainText, SopsFormat format,
                                     const std::vector<std::string>& recipients, const SopsRules& rules) {
  if (recipients.empty()) return makeError("no age recipients");
  auto parsed = parseDocument(plainText, format);
  if (!parsed) return parsed.error();
  WipedJson p;
  p.j = std::move(*parsed);
  if (p.j.contains("sops")) return makeError("document is already SOPS-encrypted");
  try {
    std::string dataKey = crypto::randomBytes(32);
    Json block = newSopsBlock(recipients, dataKey, rules);
    auto meta = readMetadata(Json{{"sops", block}});
    if (!meta) return meta.error();
    std::string out = seal(p.j, block, *meta, dataKey, nullptr, format);
    wipe(dataKey);
    return out;
  } catch (const std::exception& e) {
    return makeError(std::string("cannot encrypt: ") + e.what());
  }
}

}  // namespace tend::secrets
