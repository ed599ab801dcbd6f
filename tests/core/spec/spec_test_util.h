#pragma once
// Helpers for spec tests: a temporary spec directory with inline files.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/spec_load.h"

namespace tend::testing {

class TempSpecDir {
 public:
  TempSpecDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tend-spec-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempSpecDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempSpecDir(const TempSpecDir&) = delete;
  TempSpecDir& operator=(const TempSpecDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = path_ + "/" + name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }

 private:
  std::string path_;
};

// The invalid-spec corpus: one directory per case under tests/testdata/invalid, sorted.
inline std::vector<std::filesystem::path> invalidCorpusCases() {
  std::filesystem::path root = std::filesystem::path(TEND_SOURCE_DIR) / "tests/testdata/invalid";
  std::vector<std::filesystem::path> cases;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  return cases;
}

}  // namespace tend::testing
