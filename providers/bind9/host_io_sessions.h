#pragma once
// HostIo for a DNS server on another machine, over the daemon's SSH sessions
// (core/host_sessions.h): SFTP-style reads and atomic writes, plus exec for rename, stat,
// listings and the BIND tools (named-checkzone, named-checkconf, rndc run on that machine).
#include <memory>
#include <string>

#include "core/host_sessions.h"
#include "providers/bind9/host_io.h"

namespace tend::bind9 {

// "ssh://user@host:port" (IPv6 in brackets; port 22 when left out) -> the address.
Result<HostAddress> parseSshEndpoint(const std::string& endpoint);

// `sessions` must outlive the returned object.
std::unique_ptr<HostIo> makeSessionsHostIo(HostSessions& sessions, HostAddress host);

}  // namespace tend::bind9
