#pragma once
// Located diagnostics: every spec error prints as FILE:LINE:COL: message.
#include <string>
#include <vector>

namespace tend {

struct Location {
  std::string file;  // path as given to the loader (relative to the cwd when possible)
  int line = 0;      // 1-based; 0 = unknown
  int col = 0;       // 1-based; 0 = unknown
  std::string str() const {
    if (line <= 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(col);
  }
};

enum class Severity { Error, Warning };

struct Diagnostic {
  Severity severity = Severity::Error;
  Location loc;
  std::string message;
  std::string str() const {
    return loc.str() + ": " + (severity == Severity::Warning ? "warning: " : "") + message;
  }
};

using Diagnostics = std::vector<Diagnostic>;

inline bool hasErrors(const Diagnostics& d) {
  for (const auto& x : d)
    if (x.severity == Severity::Error) return true;
  return false;
}

// At most this many errors and as many warnings leave the spec loader (then one line counting
// the rest): a spec with 100,000 errors would otherwise put megabytes into /v1/status, every
// event and log line. Messages longer than kMaxDiagnosticChars are cut.
constexpr size_t kMaxDiagnostics = 100;
constexpr size_t kMaxDiagnosticChars = 1000;

// "1234567" -> "1,234,567".
inline std::string groupedCount(size_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// Keeps the first kMaxDiagnostics errors and warnings of `d` (in order) and appends, for each
// severity cut, "… and N more errors" located at `where`.
inline void capDiagnostics(Diagnostics& d, const std::string& where) {
  size_t errors = 0, warnings = 0;
  Diagnostics kept;
  for (auto& x : d) {
    size_t& n = x.severity == Severity::Error ? errors : warnings;
    if (++n > kMaxDiagnostics) continue;
    if (x.message.size() > kMaxDiagnosticChars) {
      x.message.resize(kMaxDiagnosticChars);
      // Not in the middle of a UTF-8 sequence.
      while (!x.message.empty() && (static_cast<unsigned char>(x.message.back()) & 0xC0) == 0x80) x.message.pop_back();
      if (!x.message.empty() && static_cast<unsigned char>(x.message.back()) >= 0xC0) x.message.pop_back();
      x.message += "…";
    }
    kept.push_back(std::move(x));
  }
  if (errors > kMaxDiagnostics)
    kept.push_back({Severity::Error, {where, 0, 0}, "… and " + groupedCount(errors - kMaxDiagnostics) + " more errors"});
  if (warnings > kMaxDiagnostics)
    kept.push_back({Severity::Warning, {where, 0, 0}, "… and " + groupedCount(warnings - kMaxDiagnostics) + " more warnings"});
  d = std::move(kept);
}

}  // namespace tend
