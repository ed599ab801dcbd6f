#pragma once
// A test that cannot run its check (a server or a tool is missing) says so instead of passing.
// skipTest() ends the test case; the Catch main (catch_main.cpp) reports it as skipped, and a
// run in which every test case skipped exits with kSkipExitCode, which ctest shows as "Skipped"
// (SKIP_RETURN_CODE in tests/CMakeLists.txt). Under CI=true a skip is a failure: the CI machine
// must have everything the suite needs.
#include <string>
#include <vector>

namespace tend::testing {

inline constexpr int kSkipExitCode = 77;  // the automake convention, shared with script tests

// True when CI=true (or 1) is set: skipping is then not allowed.
bool ciMode();

// Ends the current test case as skipped (throws; usable from fixtures and helpers).
[[noreturn]] void skipTest(const std::string& reason);

// Skips unless every program is on PATH.
void requirePrograms(const std::vector<std::string>& programs);

}  // namespace tend::testing
