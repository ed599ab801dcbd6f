#include "daemon/server/triggers.h"

#include <boost/asio/post.hpp>

#include "core/log.h"

namespace tend::daemon {

Triggers::Triggers(boost::asio::io_context& io, Controller& ctl, TriggerOptions opts)
    : io_(io), ctl_(ctl), opts_(std::move(opts)), interval_(io), gitPoll_(io) {}

Triggers::~Triggers() { stop(); }

Result<void> Triggers::start() {
  armInterval();
  if (ctl_.followsGit()) armGitPoll();
  if (!opts_.watchDir.empty()) {
    watcher_ = std::make_unique<SpecWatcher>(opts_.watchDir, opts_.debounce, [this] {
      log::debug("spec directory changed");
      Job j;
      j.reload = true;
      j.onlyIfChanged = true;
      j.trigger = "inotify";
      ctl_.submit(std::move(j));
    });
    if (auto r = watcher_->start(); !r.ok()) {
      // Not fatal: the interval and SIGHUP still reload.
      log::warn("spec directory not watched", {{"error", r.error().message}});
      watcher_.reset();
    }
  }
  return {};
}

void Triggers::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (watcher_) watcher_->stop();
  boost::asio::post(io_, [this] {
    interval_.cancel();
    gitPoll_.cancel();
  });
}

void Triggers::specApplied() {
  boost::asio::post(io_, [this] {
    if (stopped_ || opts_.interval) return;
    if (std::chrono::seconds(ctl_.intervalSeconds()) != current_) armInterval();
  });
}

void Triggers::armInterval() {
  current_ = opts_.interval ? *opts_.interval : std::chrono::seconds(ctl_.intervalSeconds());
  if (current_.count() <= 0) current_ = std::chrono::seconds(300);
  interval_.expires_after(current_);
  interval_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    Job j;
    // Level-triggered: re-read the spec too, in case a change escaped inotify.
    j.reload = true;
    j.fetch = ctl_.followsGit();
    j.trigger = "interval";
    ctl_.submit(std::move(j));
    armInterval();
  });
}

void Triggers::armGitPoll() {
  gitPoll_.expires_after(opts_.gitPoll);
  gitPoll_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    Job j;
    j.fetch = true;
    j.reload = true;
    j.onlyIfChanged = true;
    j.trigger = "git";
    ctl_.submit(std::move(j));
    armGitPoll();
  });
}

}  // namespace tend::daemon
