#include "daemon/server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tend::daemon::systemd {

// The notify protocol (sd_notify(3), systemd's "NOTIFY_SOCKET" documentation): one datagram
// holding the newline-separated assignments, sent to the AF_UNIX socket named by
// $NOTIFY_SOCKET — a path, or an abstract name written with a leading '@'. Written here rather
// than linked from libsystemd, which would load seven libraries at every start (a `tendd
// --once` and every tendctl-like short run pay for that) to send one datagram.
void notify(const std::string& state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where || state.empty()) return;
  std::string path(where);
  if (path[0] != '/' && path[0] != '@') return;  // vsock: and others: not supported
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() > sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  // A path is NUL-terminated when it fits; an abstract name's length is exactly its bytes.
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                         (path[0] == '/' && path.size() < sizeof(addr.sun_path) ? 1 : 0));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ssize_t n;
  do {
    n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
}

std::chrono::microseconds watchdogPingInterval() {
  // WATCHDOG_USEC: the timeout; WATCHDOG_PID, when set, names the process it is meant for (a
  // child that inherited the environment must not ping).
  const char* usecText = std::getenv("WATCHDOG_USEC");
  if (!usecText || !*usecText) return std::chrono::microseconds(0);
  char* end = nullptr;
  errno = 0;
  unsigned long long usec = std::strtoull(usecText, &end, 10);
  if (errno != 0 || *end != '\0' || usec == 0 || usecText[0] == '-') return std::chrono::microseconds(0);
  if (const char* pidText = std::getenv("WATCHDOG_PID"); pidText && *pidText) {
    errno = 0;
    long long pid = std::strtoll(pidText, &end, 10);
    if (errno != 0 || *end != '\0' || pid != static_cast<long long>(::getpid())) return std::chrono::microseconds(0);
  }
  return std::chrono::microseconds(static_cast<int64_t>(usec / 2));
}

uint64_t monotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace tend::daemon::systemd
