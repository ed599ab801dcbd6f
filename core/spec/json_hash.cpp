// Resource hashes without building the dump string: a compact serializer that writes exactly
// the bytes of nlohmann's `dump()` (no indent, UTF-8 kept, strict) straight into SHA-256.
// Serialising every payload with dump() into a fresh string was the largest single cost of
// expansion; here plain strings, integers and literals are written directly and anything
// unusual (escapes, non-ASCII, floats, binary) is delegated to nlohmann so the bytes and the
// errors stay the library's own.
#include "core/spec/json_hash.h"

#include "core/hash.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace tend::spec {

namespace {

class HashWriter {
 public:
  HashWriter() = default;

  void put(char c) {
    if (len_ == sizeof buf_) flush();
    buf_[len_++] = c;
  }
  void put(const char* p, size_t n) {
    if (n > sizeof buf_ - len_) {
      flush();
      if (n >= sizeof buf_) {
        sha_.update(p, n);
        return;
      }
    }
    std::memcpy(buf_ + len_, p, n);
    len_ += n;
  }
  void put(const std::string& s) { put(s.data(), s.size()); }

  // A JSON string literal, quoted, as dump() writes it.
  void quoted(const std::string& s) {
    if (!plain(s)) {
      put(nlohmann::json(s).dump());  // escapes, UTF-8 validation: the library's own rules
      return;
    }
    put('"');
    put(s);
    put('"');
  }

  // True when `s` is printable ASCII without '"' and '\\': dump() copies such a string as is.
  // Eight bytes at a time (SWAR): payload strings are many and mostly plain.
  static bool plain(const std::string& s) {
    constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    auto hasZero = [](uint64_t x) { return (x - ones) & ~x & highs; };
    const char* p = s.data();
    size_t n = s.size(), i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      // high bit set (>= 0x80), below 0x20, '"' (0x22) or '\\' (0x5c) anywhere in the word
      uint64_t bad = (w & highs) | ((w - 0x2020202020202020ull) & ~w & highs) | hasZero(w ^ (ones * 0x22)) |
                     hasZero(w ^ (ones * 0x5c));
      if (bad) return false;
    }
    for (; i < n; ++i) {
      auto c = static_cast<unsigned char>(p[i]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return false;
    }
    return true;
  }

  // A top-level object with the fields of `defs` it lacks merged in, in key order: both
  // sequences are sorted by std::less<std::string>, as nlohmann's objects are.
  void object(const nlohmann::json::object_t& o, const PayloadDefaults& defs) {
    put('{');
    bool first = true;
    auto field = [&](const std::string& k, const nlohmann::json& v) {
      if (!first) put(',');
      first = false;
      quoted(k);
      put(':');
      value(v);
    };
    auto it = o.begin();
    size_t d = 0;
    while (it != o.end() || d < defs.size()) {
      if (it == o.end() || (d < defs.size() && defs[d].key < it->first)) {
        field(defs[d].key, defs[d].value);
        ++d;
      } else {
        if (d < defs.size() && defs[d].key == it->first) ++d;
        field(it->first, it->second);
        ++it;
      }
    }
    put('}');
  }

  void value(const nlohmann::json& j) {
    using V = nlohmann::json::value_t;
    switch (j.type()) {
      case V::object: {
        static const PayloadDefaults none;
        object(j.get_ref<const nlohmann::json::object_t&>(), none);
        return;
      }
      case V::array: {
        const auto& a = j.get_ref<const nlohmann::json::array_t&>();
        put('[');
        for (size_t i = 0; i < a.size(); ++i) {
          if (i) put(',');
          value(a[i]);
        }
        put(']');
        return;
      }
      case V::string: quoted(j.get_ref<const std::string&>()); return;
      case V::boolean: put(j.get<bool>() ? "true" : "false", j.get<bool>() ? 4 : 5); return;
      case V::null: put("null", 4); return;
      case V::number_integer: integer(j.get<int64_t>()); return;
      case V::number_unsigned: integer(j.get<uint64_t>()); return;
      default: put(j.dump()); return;  // floats (grisu formatting), binary, discarded
    }
  }

  Sha256 digest() {
    flush();
    return sha_.finish();
  }
  std::string hex() { return hexOf(digest()); }

 private:
  template <class T>
  void integer(T v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    put(tmp, static_cast<size_t>(r.ptr - tmp));
  }
  void flush() {
    if (len_) sha_.update(buf_, len_);
    len_ = 0;
  }

  Sha256Hasher sha_;
  char buf_[8192];
  size_t len_ = 0;
};

}  // namespace

std::string jsonSha256Hex(const nlohmann::json& j) {
  HashWriter w;
  w.value(j);
  return w.hex();
}

std::string jsonSha256Hex(const nlohmann::json& j, const PayloadDefaults& defaults) {
  HashWriter w;
  if (j.is_object()) w.object(j.get_ref<const nlohmann::json::object_t&>(), defaults);
  else w.value(j);
  return w.hex();
}

Sha256 jsonSha256(const nlohmann::json& j, const PayloadDefaults& defaults) {
  HashWriter w;
  if (j.is_object()) w.object(j.get_ref<const nlohmann::json::object_t&>(), defaults);
  else w.value(j);
  return w.digest();
}

Sha256 objectSha256(const nlohmann::json::object_t& o, const PayloadDefaults& defaults) {
  HashWriter w;
  w.object(o, defaults);
  return w.digest();
}

std::string hexOf(const Sha256& d) {
  static const char* digits = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  return out;
}

bool isDefaultValue(const nlohmann::json& v, const nlohmann::json& d) {
  if (v.type() != d.type()) return false;  // 0 and 0.0 compare equal but dump differently
  if (v.is_number_float())
    return v.get<double>() == d.get<double>() && std::signbit(v.get<double>()) == std::signbit(d.get<double>());
  return v == d;
}

nlohmann::json withDefaults(const nlohmann::json& j, const PayloadDefaults& defaults) {
  if (!j.is_object()) return j;
  nlohmann::json out = j;
  for (const auto& d : defaults)
    if (!out.contains(d.key)) out[d.key] = d.value;
  return out;
}

const PayloadDefaults& payloadDefaults(const std::string& kind) {
  using nlohmann::json;
  // Container fields that Compose leaves unset in most services (docs/resources.md). Before
  // they were left out, every container payload carried all of them: ~30 map nodes each,
  // about half of a large graph's memory.
  static const PayloadDefaults container = [] {
    PayloadDefaults d = {
        {"cap_add", json::array()},       {"cap_drop", json::array()},   {"command", nullptr},
        {"cpus", 0.0},                    {"depends_on", json::object()}, {"devices", json::array()},
        {"dns", json::array()},           {"entrypoint", nullptr},        {"environment", json::object()},
        {"expose", json::array()},        {"extra_hosts", json::array()}, {"group_add", json::array()},
        {"healthcheck", nullptr},         {"hostname", ""},               {"init", false},
        {"logging", nullptr},             {"mem_limit", int64_t{0}},      {"mem_reservation", int64_t{0}},
        {"network_mode", ""},             {"networks", json::object()},   {"ports", json::array()},
        {"privileged", false},            {"read_only", false},           {"security_opt", json::array()},
        {"shm_size", int64_t{0}},         {"stdin_open", false},          {"stop_grace_period_s", int64_t{10}},
        {"stop_signal", ""},              {"sysctls", json::object()},    {"tmpfs", json::array()},
        {"tty", false},                   {"user", ""},                   {"volumes", json::array()},
        {"working_dir", ""},
    };
    std::sort(d.begin(), d.end(), [](const PayloadDefault& a, const PayloadDefault& b) { return a.key < b.key; });
    return d;
  }();
  static const PayloadDefaults none;
  return kind == "container" ? container : none;
}

}  // namespace tend::spec
