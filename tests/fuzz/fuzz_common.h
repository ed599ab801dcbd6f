#pragma once
// Helpers shared by the libFuzzer targets: a private scratch directory per process and the
// splitting of one input into several files.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace tend::fuzz {

// A directory under $TMPDIR (or /tmp) of this process, removed at exit.
inline const std::string& scratchDir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/tend-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    static std::string keep = tmpl;
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(keep, ec); });
    return tmpl;
  }();
  return dir;
}

// Parts of the input separated by a line "%%FILE\n" (the seeds use it; the fuzzer keeps it).
inline std::vector<std::string_view> splitParts(std::string_view in, size_t maxParts) {
  static constexpr std::string_view kSep = "%%FILE\n";
  std::vector<std::string_view> out;
  while (out.size() + 1 < maxParts) {
    auto p = in.find(kSep);
    if (p == std::string_view::npos) break;
    out.push_back(in.substr(0, p));
    in.remove_prefix(p + kSep.size());
  }
  out.push_back(in);
  return out;
}

inline void writeFile(const std::string& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace tend::fuzz
