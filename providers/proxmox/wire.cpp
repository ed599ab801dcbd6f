#include "providers/proxmox/wire.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <regex>

namespace tend::proxmox {

std::string percentEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string percentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string formEncode(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += percentEncode(k);
    out.push_back('=');
    out += percentEncode(v);
  }
  return out;
}

std::string encodeSshKeys(const std::vector<std::string>& keys) {
  std::string joined;
  for (const auto& k : keys) {
    std::string line = k;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.empty()) continue;
    joined += line;
    joined.push_back('\n');
  }
  return percentEncode(joined);
}

// ---- lenient scalars
std::optional<int64_t> asInt(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::isfinite(d) && d == std::floor(d)) return static_cast<int64_t>(d);
    return std::nullopt;
  }
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    int64_t v = 0;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    if (b != e && *b == '+') ++b;
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec == std::errc() && p == e && b != e) return v;
  }
  return std::nullopt;
}

std::optional<double> asNumber(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

std::optional<bool> asBool(const nlohmann::json& j) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) {
    auto v = j.get<int64_t>();
    if (v == 0 || v == 1) return v == 1;
    return std::nullopt;
  }
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
    if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  }
  return std::nullopt;
}

std::optional<std::string> asString(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number_unsigned()) return std::to_string(j.get<uint64_t>());
  if (j.is_number_float()) return j.dump();
  if (j.is_boolean()) return std::string(j.get<bool>() ? "1" : "0");
  return std::nullopt;
}

namespace {
const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}
}  // namespace

std::optional<int64_t> intField(const nlohmann::json& obj, const char* key) {
  auto* m = member(obj, key);
  return m ? asInt(*m) : std::nullopt;
}
std::optional<bool> boolField(const nlohmann::json& obj, const char* key) {
  auto* m = member(obj, key);
  return m ? asBool(*m) : std::nullopt;
}
std::optional<std::string> stringField(const nlohmann::json& obj, const char* key) {
  auto* m = member(obj, key);
  return m ? asString(*m) : std::nullopt;
}

// ---- errors
const char* errorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::None: return "none";
    case ErrorKind::Transport: return "transport";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Cancelled: return "cancelled";
    case ErrorKind::Tls: return "tls";
    case ErrorKind::Auth: return "auth";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::Busy: return "busy";
    case ErrorKind::Param: return "parameter";
    case ErrorKind::Server: return "server";
    case ErrorKind::Task: return "task";
  }
  return "?";
}

bool ApiError::retryable() const {
  switch (kind) {
    case ErrorKind::Busy:
    case ErrorKind::Transport:
    case ErrorKind::Timeout:
      return true;
    case ErrorKind::Server:
      return status != 501;  // "not implemented" will not change by waiting
    default:
      return false;
  }
}

std::string ApiError::text() const {
  std::string out = "proxmox: " + message;
  if (!params.empty()) {
    out += ":";
    bool first = true;
    for (const auto& [k, v] : params) {
      out += first ? " " : "; ";
      first = false;
      std::string msg = v;
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      for (auto& c : msg)
        if (c == '\n') c = ' ';
      out += k + ": " + msg;
    }
  }
  if (status) out += " (HTTP " + std::to_string(status) + ")";
  return out;
}

ErrorKind classifyMessage(const std::string& m, ErrorKind fallback) {
  static const std::regex locked(R"(is locked \(|^can't lock file '.*' - got timeout)");
  if (std::regex_search(m, locked)) return ErrorKind::Busy;
  static const std::regex missing(R"(^Configuration file '.*' does not exist)");
  if (std::regex_search(m, missing)) return ErrorKind::NotFound;
  return fallback;
}

ApiError errorFromResponse(int status, const std::string& reason, const std::string& body) {
  ApiError e;
  e.status = status;
  e.message = reason;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto m = stringField(j, "message"); m && !m->empty()) e.message = *m;
    auto it = j.find("errors");
    if (it != j.end() && it->is_object())
      for (auto& [k, v] : it->items()) e.params[k] = asString(v).value_or(v.dump());
  }
  while (!e.message.empty() && (e.message.back() == '\n' || e.message.back() == '\r'))
    e.message.pop_back();
  if (e.message.empty()) e.message = "HTTP " + std::to_string(status);
  if (status == 401 || status == 403) {
    e.kind = ErrorKind::Auth;
  } else if (status == 400) {
    e.kind = ErrorKind::Param;
  } else if (status == 404) {
    e.kind = ErrorKind::NotFound;
  } else if (status >= 500) {
    e.kind = classifyMessage(e.message, ErrorKind::Server);
  } else {
    e.kind = ErrorKind::Server;
  }
  return e;
}

// ---- UPIDs
Result<Upid> parseUpid(const std::string& text) {
  // pve-common UPID.pm decode.
  static const std::regex re(
      R"(^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):)"
      R"(([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return makeError("not a UPID: '" + text + "'", true);
  Upid u;
  u.node = m[1];
  u.pid = static_cast<uint32_t>(std::stoul(m[3], nullptr, 16));
  u.pstart = std::stoull(m[4], nullptr, 16);
  u.starttime = static_cast<uint32_t>(std::stoul(m[5], nullptr, 16));
  u.type = m[6];
  u.id = m[7];
  u.user = m[8];
  return u;
}

std::string formatUpid(const Upid& u) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08X:%08llX:%08X:", u.pid,
                static_cast<unsigned long long>(u.pstart), u.starttime);
  return "UPID:" + u.node + ":" + buf + u.type + ":" + u.id + ":" + u.user + ":";
}

bool TaskStatus::succeeded() const {
  return !running && (exitstatus == "OK" || exitstatus.rfind("WARNINGS: ", 0) == 0);
}

int TaskStatus::warnings() const {
  if (exitstatus.rfind("WARNINGS: ", 0) != 0) return 0;
  return static_cast<int>(asInt(nlohmann::json(exitstatus.substr(10))).value_or(0));
}

ApiError TaskStatus::error(const std::string& upid) const {
  ApiError e;
  if (!failed()) return e;
  e.message = exitstatus.empty() ? "task " + upid + " stopped without an exit status"
                                 : "task failed: " + exitstatus;
  e.kind = classifyMessage(exitstatus, ErrorKind::Task);
  return e;
}

Result<TaskStatus> parseTaskStatus(const nlohmann::json& data) {
  auto st = stringField(data, "status");
  if (!st) return makeError("proxmox: task status without 'status'");
  TaskStatus t;
  if (*st == "running") {
    t.running = true;
  } else if (*st == "stopped") {
    t.exitstatus = stringField(data, "exitstatus").value_or("");
  } else {
    return makeError("proxmox: unknown task status '" + *st + "'");
  }
  return t;
}

}  // namespace tend::proxmox
