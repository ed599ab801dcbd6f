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
  // server -> "bind9 server 'X' needs the ssh provider (not built yet)". The SSH provider
  // will plug in here. The returned pointer must outlive the provider.
  std::function<Result<HostIo*>(const std::string& server)> hostFor;
  std::string namedCheckzone = "named-checkzone";
  std::string namedCheckconf = "named-checkconf";
  std::string rndc = "rndc";
  std::chrono::milliseconds commandTimeout{30000};
  // A temp file of another process is a crash leftover once older than this (0 = 4 x
  // commandTimeout: longer than any write, check and rename can take).
  std::chrono::milliseconds staleTempAge{0};
};

Result<std::unique_ptr<Provider>> makeBind9ProviderWith(const ProviderConfig& cfg,
                                                        Bind9Options opts);

}  // namespace tend::bind9
