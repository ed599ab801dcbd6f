#pragma once
// Pumps bytes between an SSH channel and one end of a local socketpair, on a thread of its
// own that owns the channel's session (libssh sessions are driven by one thread at a time).
// The other end is an ordinary socket: a second libssh session runs over it (proxy_jump),
// or an asio socket speaks HTTP through it (Docker over SSH).
#include <atomic>
#include <memory>
#include <thread>

#include "core/result.h"
#include "providers/ssh/ssh_session.h"

namespace tend::ssh {

class ChannelBridge {
 public:
  // Takes the session and a channel open on it. The returned bridge's localFd() is the other
  // end of the pipe; whoever takes it closes it (closing it ends the pump).
  static Result<std::unique_ptr<ChannelBridge>> start(std::unique_ptr<Session> session,
                                                      std::unique_ptr<StreamChannel> channel);
  ~ChannelBridge();  // stops the pump and closes the channel and session
  ChannelBridge(const ChannelBridge&) = delete;
  ChannelBridge& operator=(const ChannelBridge&) = delete;

  // The caller's end, still owned by the bridge (closed with it).
  int localFd() const { return theirs_; }
  // The caller's end, handed over; -1 once released.
  int releaseLocalFd();
  bool running() const { return !done_.load(); }

 private:
  ChannelBridge() = default;
  void pump();

  std::unique_ptr<Session> session_;
  std::unique_ptr<StreamChannel> channel_;
  int mine_ = -1;    // pumped end
  int theirs_ = -1;  // handed out
  int wake_ = -1;    // eventfd: the destructor's stop signal
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace tend::ssh
