#include "daemon/server/subprocess.h"

#include "core/subprocess.h"

namespace tend::daemon {

ProcessResult runProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& cwd) {
  ProcessResult r;
  if (argv.empty()) return r;
  std::vector<std::string> args = argv;
  // git and friends take -C; callers pass cwd only for programs without it.
  if (!cwd.empty()) args.insert(args.begin(), {"/usr/bin/env", "-C", cwd});
  SubprocessOptions o;
  o.timeout = timeout;
  o.mergeStderr = true;
  o.maxCapture = 64 * 1024;
  // Never prompt for credentials: a daemon has no terminal.
  o.env = {"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"};
  auto s = runSubprocess(args, o);
  if (!s.started) {
    r.output = s.startError;
    return r;
  }
  r.exitCode = s.exitCode;
  r.timedOut = s.timedOut;
  r.output = std::move(s.out);
  return r;
}

}  // namespace tend::daemon
