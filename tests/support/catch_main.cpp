// The Catch main of every test binary, with skip support (skip.h). Catch2 v2 has no skip: a
// skip is an exception the test case "fails" with, which the listener below recognises and
// counts apart; when no test case failed for any other reason the exit code says skipped
// (every test case skipped) or passed (some ran).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "tests/support/skip.h"

namespace tend::testing {
namespace {

struct Skipped {
  std::string reason;
};

struct Tally {
  bool currentSkipped = false;
  std::string currentReason;
  int cases = 0;
  int failedCases = 0;  // failed for a reason other than a skip
  std::vector<std::string> skipped;
};

Tally& tally() {
  static Tally t;
  return t;
}

class SkipListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    tally().currentSkipped = false;
  }
  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    auto& t = tally();
    t.cases++;
    // The skip exception is the one failed assertion of a skipped case; anything else failing
    // in the same case makes it a failure.
    if (t.currentSkipped && stats.totals.assertions.failed == 1)
      t.skipped.push_back(stats.testInfo.name + ": " + t.currentReason);
    else if (stats.totals.assertions.failed > 0)
      t.failedCases++;
    TestEventListenerBase::testCaseEnded(stats);
  }
};

CATCH_REGISTER_LISTENER(SkipListener)

}  // namespace

bool ciMode() {
  const char* ci = std::getenv("CI");
  return ci && (std::string(ci) == "true" || std::string(ci) == "1");
}

void skipTest(const std::string& reason) {
  if (ciMode()) FAIL("CI=true and the test cannot run its check: " << reason);
  tally().currentSkipped = true;
  tally().currentReason = reason;
  throw Skipped{reason};
}

void requirePrograms(const std::vector<std::string>& programs) {
  std::string missing;
  const char* pathEnv = std::getenv("PATH");
  for (const auto& p : programs) {
    bool found = false;
    std::stringstream path(pathEnv ? pathEnv : "/usr/bin:/bin");
    for (std::string dir; !found && std::getline(path, dir, ':');)
      found = ::access(((dir.empty() ? "." : dir) + "/" + p).c_str(), X_OK) == 0;
    // sbin is not on every user's PATH, and named lives there.
    for (const char* dir : {"/usr/sbin/", "/sbin/"}) found = found || ::access((dir + p).c_str(), X_OK) == 0;
    if (!found) missing += (missing.empty() ? "" : ", ") + p;
  }
  if (!missing.empty()) skipTest("not installed: " + missing);
}

}  // namespace tend::testing

CATCH_TRANSLATE_EXCEPTION(const tend::testing::Skipped& s) { return "SKIPPED: " + s.reason; }

int main(int argc, char** argv) {
  using tend::testing::tally;
  Catch::Session session;
  int rc = session.run(argc, argv);
  const auto& t = tally();
  if (t.skipped.empty()) return rc;
  // Catch counted each skip as a failure: say which were skips.
  std::cout << t.skipped.size() << " of " << t.cases << " test case(s) skipped:\n";
  for (const auto& s : t.skipped) std::cout << "  SKIPPED " << s << "\n";
  if (t.failedCases > 0) return rc;
  // Nothing else failed: not a failure; "skipped" when nothing else ran.
  return static_cast<int>(t.skipped.size()) == t.cases ? tend::testing::kSkipExitCode : 0;
}
