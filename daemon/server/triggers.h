#pragma once
// The time- and file-based reasons for a pass: the periodic interval (from --interval or the
// spec's reconcile.interval), the git poll, and inotify on a local spec directory. Each only
// enqueues a job on the controller; timers live on the io thread.
#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/server/controller.h"
#include "daemon/server/spec_watcher.h"

namespace tend::daemon {

struct TriggerOptions {
  std::optional<std::chrono::seconds> interval;  // --interval; else the spec's
  std::chrono::seconds gitPoll{60};
  std::string watchDir;                          // "" = no inotify
  std::chrono::milliseconds debounce{300};
};

class Triggers {
 public:
  Triggers(boost::asio::io_context& io, Controller& ctl, TriggerOptions opts);
  ~Triggers();
  Result<void> start();
  void stop();
  // The applied spec changed: its reconcile.interval may have (thread-safe).
  void specApplied();

 private:
  void armInterval();
  void armGitPoll();
  boost::asio::io_context& io_;
  Controller& ctl_;
  TriggerOptions opts_;
  boost::asio::steady_timer interval_;
  boost::asio::steady_timer gitPoll_;
  std::unique_ptr<SpecWatcher> watcher_;
  std::chrono::seconds current_{0};
  bool stopped_ = false;
};

}  // namespace tend::daemon
