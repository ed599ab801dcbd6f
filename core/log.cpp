#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/secrets.h"

namespace tend::log {
namespace {
std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::atomic<int> gFormat{static_cast<int>(Format::Text)};
std::mutex gMu;

const char* levelName(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Text values with spaces or quotes are quoted (logfmt style).
std::string quoteIfNeeded(const std::string& v) {
  if (!v.empty() && v.find_first_of(" \"=\t\n") == std::string::npos) return v;
  return nlohmann::json(v).dump();
}
}  // namespace

void configure(Level minLevel, Format format) {
  gLevel = static_cast<int>(minLevel);
  gFormat = static_cast<int>(format);
}

bool parseLevel(const std::string& s, Level& out) {
  if (s == "debug") out = Level::Debug;
  else if (s == "info") out = Level::Info;
  else if (s == "warn" || s == "warning") out = Level::Warn;
  else if (s == "error") out = Level::Error;
  else return false;
  return true;
}

bool enabled(Level l) { return static_cast<int>(l) >= gLevel.load(); }

void write(Level l, const std::string& msg, const std::map<std::string, std::string>& fields) {
  if (!enabled(l)) return;
  const auto& r = Redactor::instance();
  std::string line;
  if (static_cast<Format>(gFormat.load()) == Format::Json) {
    nlohmann::json j;
    j["ts"] = timestamp();
    j["level"] = levelName(l);
    j["msg"] = r.redact(msg);
    for (const auto& [k, v] : fields) j[k] = r.redact(v);
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestamp() + " " + levelName(l) + " " + r.redact(msg);
    for (const auto& [k, v] : fields) line += " " + k + "=" + quoteIfNeeded(r.redact(v));
  }
  line += '\n';
  std::lock_guard lk(gMu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tend::log
