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

}  // namespace tend
