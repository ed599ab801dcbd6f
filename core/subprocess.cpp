#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

extern char** environ;

namespace tend {

namespace {

std::vector<std::string> mergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string_view cur(*e);
    bool replaced = false;
    for (const auto& x : extra) {
      auto eq = x.find('=');
      if (eq != std::string::npos && cur.size() > eq && cur.compare(0, eq + 1, x, 0, eq + 1) == 0)
        replaced = true;
    }
    if (!replaced) out.emplace_back(cur);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

SubprocessResult runSubprocess(const std::vector<std::string>& argv, const SubprocessOptions& opts) {
  SubprocessResult res;
  if (argv.empty()) {
    res.startError = "empty command";
    return res;
  }
  int outPipe[2], errPipe[2] = {-1, -1};
  if (::pipe2(outPipe, O_CLOEXEC) != 0) {
    res.startError = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  if (!opts.mergeStderr && ::pipe2(errPipe, O_CLOEXEC) != 0) {
    res.startError = std::string("pipe: ") + std::strerror(errno);
    ::close(outPipe[0]);
    ::close(outPipe[1]);
    return res;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, opts.mergeStderr ? outPipe[1] : errPipe[1], 2);
  // Nothing else of this process reaches the program: sockets made without close-on-exec (the
  // HTTP server's listeners among them) would stay open in a child that outlives a killed
  // tendd, and the restarted daemon could not listen on its address until the child ended.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envs;
  std::vector<char*> cenv;
  char** envp = environ;
  if (!opts.env.empty()) {
    envs = mergedEnvironment(opts.env);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    envp = cenv.data();
  }
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  ::close(outPipe[1]);
  if (errPipe[1] >= 0) ::close(errPipe[1]);
  if (rc != 0) {
    ::close(outPipe[0]);
    if (errPipe[0] >= 0) ::close(errPipe[0]);
    res.startError = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return res;
  }
  res.started = true;

  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  int open = errPipe[0] >= 0 ? 2 : 1;
  char buf[8192];
  auto keep = [&](std::string& into, ssize_t n) {
    size_t take = static_cast<size_t>(n);
    if (opts.maxCapture && into.size() + take > opts.maxCapture)
      take = into.size() < opts.maxCapture ? opts.maxCapture - into.size() : 0;
    into.append(buf, take);
  };
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timedOut = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        keep(i == 0 ? res.out : res.err, r);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!res.timedOut && WIFEXITED(status)) res.exitCode = WEXITSTATUS(status);
  return res;
}

std::vector<std::string> safeGitArgv(std::vector<std::string> args) {
  std::vector<std::string> argv = {"git",
                                   "-c", "safe.bareRepository=explicit",
                                   "-c", "core.fsmonitor=false",
                                   "-c", "core.hooksPath=/dev/null"};
  argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  return argv;
}

}  // namespace tend
