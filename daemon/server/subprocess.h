#pragma once
// fork/exec of helper programs (git) with a deadline; never through a shell. Blocking: call
// from a worker thread only.
#include <chrono>
#include <string>
#include <vector>

namespace tend::daemon {

struct ProcessResult {
  int exitCode = -1;      // -1: could not start or killed at the deadline
  std::string output;     // stdout + stderr, truncated to 64 KiB
  bool timedOut = false;
};

ProcessResult runProcess(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120),
                         const std::string& cwd = "");

}  // namespace tend::daemon
