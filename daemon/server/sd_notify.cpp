#include "daemon/server/sd_notify.h"

#include <time.h>

#ifdef TEND_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace tend::daemon::systemd {

void notify(const std::string& state) {
#ifdef TEND_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

std::chrono::microseconds watchdogPingInterval() {
#ifdef TEND_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec / 2);
#endif
  return std::chrono::microseconds(0);
}

uint64_t monotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace tend::daemon::systemd
