#pragma once
// systemd integration (Type=notify): READY=1, STOPPING=1, WATCHDOG=1, spoken directly (the
// protocol is one datagram to $NOTIFY_SOCKET; no libsystemd). No-ops when not run by systemd.
#include <chrono>
#include <cstdint>
#include <string>

namespace tend::daemon::systemd {

void notify(const std::string& state);  // e.g. "READY=1\nSTATUS=..."
// Half the watchdog timeout when WATCHDOG_USEC is set for this process, else zero.
std::chrono::microseconds watchdogPingInterval();
// CLOCK_MONOTONIC in microseconds, for MONOTONIC_USEC= next to RELOADING=1.
uint64_t monotonicUsec();

}  // namespace tend::daemon::systemd
