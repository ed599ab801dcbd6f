// The invalid-spec corpus: tests/testdata/invalid/<case>/ holds spec files and `expected`, the
// exact error lines (paths relative to the case directory). Every case must fail to load with
// exactly those errors, in that order, and never yield a partial model.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/spec.h"
#include "tests/core/spec/spec_test_util.h"

namespace {

std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("every invalid spec in the corpus fails with its exact located errors", "[spec][corpus]") {
  std::vector<std::filesystem::path> cases = tend::testing::invalidCorpusCases();
  REQUIRE(cases.size() >= 25);
  for (const auto& dir : cases) {
    DYNAMIC_SECTION(dir.filename().string()) {
      REQUIRE(std::filesystem::exists(dir / "expected"));
      std::vector<std::string> expected = readLines((dir / "expected").string());
      REQUIRE(!expected.empty());
      tend::LoadResult r = tend::test::loadSpec(dir.string());
      CHECK_FALSE(r.ok());
      CHECK(r.graph == nullptr);
      CHECK(r.spec == nullptr);
      std::vector<std::string> got;
      for (const auto& d : r.diagnostics)
        if (d.severity == tend::Severity::Error) got.push_back(replaceAll(d.str(), dir.string() + "/", ""));
      CHECK(got == expected);
    }
  }
}
