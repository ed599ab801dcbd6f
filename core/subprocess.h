#pragma once
// Runs a program (never through a shell) with a deadline and captures its output. posix_spawn,
// not fork: forking copies the page tables of a process that may hold a large model, which
// cost more than the git command itself. The program gets stdin (/dev/null), stdout and stderr
// and no other descriptor. Blocking: call from a worker thread only.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace tend {

struct SubprocessOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(120);  // then SIGKILL
  bool mergeStderr = false;     // stderr into `out` (else captured separately into `err`)
  size_t maxCapture = 0;        // bytes kept per stream beyond which output is dropped; 0 = all
  // NAME=VALUE entries added to the inherited environment, replacing the same NAME there.
  std::vector<std::string> env;
};

struct SubprocessResult {
  bool started = false;
  int exitCode = -1;  // -1: could not start, killed by a signal or at the deadline
  bool timedOut = false;
  std::string out;
  std::string err;        // empty with mergeStderr
  std::string startError;  // why it could not start ("cannot run git: No such file ...")
};

SubprocessResult runSubprocess(const std::vector<std::string>& argv,
                               const SubprocessOptions& opts = {});

// "git" followed by options that keep configuration found in the tree git looks at from
// running anything: a spec directory is content others push, and a directory laid out like a
// bare repository (HEAD, objects/, refs/, config) would otherwise be git's repository, its
// `core.fsmonitor` a command git runs. Bare repositories are used only when named
// (--git-dir), no fsmonitor, no hooks. Options given with -c outrank every config file.
// `args` follow these options.
std::vector<std::string> safeGitArgv(std::vector<std::string> args);

}  // namespace tend
