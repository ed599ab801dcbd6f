#pragma once
// One line per event, text or JSON, with levels. Every message passes the Redactor, so a
// secret value registered there never reaches the log. Thread-safe.
#include <map>
#include <string>

namespace tend::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format { Text, Json };

void configure(Level minLevel, Format format);  // default Info, Text, to stderr
bool parseLevel(const std::string& s, Level& out);
bool enabled(Level l);

// fields: extra key=value context (resource id, run id, ...). Values are redacted too.
void write(Level l, const std::string& msg, const std::map<std::string, std::string>& fields = {});
inline void debug(const std::string& m, const std::map<std::string, std::string>& f = {}) { write(Level::Debug, m, f); }
inline void info(const std::string& m, const std::map<std::string, std::string>& f = {}) { write(Level::Info, m, f); }
inline void warn(const std::string& m, const std::map<std::string, std::string>& f = {}) { write(Level::Warn, m, f); }
inline void error(const std::string& m, const std::map<std::string, std::string>& f = {}) { write(Level::Error, m, f); }

}  // namespace tend::log
