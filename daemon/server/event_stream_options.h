#pragma once
// Limits of the server-sent event streams (daemon/server/event_stream.h).
#include <chrono>
#include <cstddef>

namespace tend::daemon {

struct StreamOptions {
  std::chrono::milliseconds poll{250};          // how often the hub looks for changes
  std::chrono::milliseconds statusEvery{1000};  // resource changes at most this often
  std::chrono::milliseconds keepAlive{15000};   // ": keep-alive" comment when idle
  std::size_t clientPendingBytes = 8 * 1024 * 1024;  // pending changes beyond: client dropped
  std::size_t maxClients = 512;                 // streams beyond: 503
  int eventBatch = 500;
};

}  // namespace tend::daemon
