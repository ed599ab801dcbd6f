#pragma once
// Construction seams of the bind9 provider for tests, benchmarks and (later) the SSH provider:
// the clock used for serial dates, the HostIo per DNS server, the tool names.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/provider.h"
#include "providers/bind9/host_io.h"

namespace tend::bind9 {

struct Bind9Options {
  const Clock* clock = nullptr;  // null = system clock; serial dates are UTC
  // The HostIo for a DNS server name. Null = built-in: "local" -> this machine; any other
  // server -> "bind9 server 'X' is another machine: ... needs the ssh provider ...". The SSH
  // provider will plug in here. The returned pointer must outlive the provider.
  std::function<Result<HostIo*>(const std::string& server)> hostFor;
  std::string namedCheckzone = "named-checkzone";
  std::string namedCheckconf = "named-checkconf";
  std::string rndc = "rndc";
  std::chrono::milliseconds commandTimeout{30000};
  // A temp file of another process is a crash leftover once older than this (0 = 4 x
  // commandTimeout: longer than any write, check and rename can take).
  std::chrono::milliseconds staleTempAge{0};
  // `rndc reload` only queues the load. After it, tend polls `rndc zonestatus` until named
  // serves the new serial, for at most this long; then the zone is failed and rolled back.
  std::chrono::milliseconds loadTimeout{5000};
  // named's log file on the DNS server, read for named's reason when a load fails. Empty:
  // the journal (`journalctl -u named -u bind9`) is asked instead.
  std::string namedLog;
};

Result<std::unique_ptr<Provider>> makeBind9ProviderWith(const ProviderConfig& cfg,
                                                        Bind9Options opts);

}  // namespace tend::bind9
