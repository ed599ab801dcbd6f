#include "providers/ssh/channel_bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "providers/ssh/libssh_api.h"

namespace tend::ssh {

Result<std::unique_ptr<ChannelBridge>> ChannelBridge::start(std::unique_ptr<Session> session,
                                                            std::unique_ptr<StreamChannel> channel) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return makeError("socketpair: " + std::string(std::strerror(errno)));
  std::unique_ptr<ChannelBridge> b(new ChannelBridge());
  b->session_ = std::move(session);
  b->channel_ = std::move(channel);
  b->mine_ = sv[0];
  b->theirs_ = sv[1];
  // The destructor wakes the pump through this instead of the pump polling a flag.
  b->wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->wake_ < 0) return makeError("eventfd: " + std::string(std::strerror(errno)));
  b->thread_ = std::thread([p = b.get()] { p->pump(); });
  return b;
}

ChannelBridge::~ChannelBridge() {
  stop_ = true;
  if (wake_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_ >= 0) ::close(wake_);
  channel_.reset();  // before the session it borrows
  session_.reset();
  if (mine_ >= 0) ::close(mine_);
  if (theirs_ >= 0) ::close(theirs_);
}

int ChannelBridge::releaseLocalFd() {
  int fd = theirs_;
  theirs_ = -1;
  return fd;
}

namespace {
bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
}  // namespace

void ChannelBridge::pump() {
  ssh_channel ch = channel_->ch_;
  ssh_session s = session_->s_;
  // Each blocking channel write may wait this long for the remote window.
  long sec = 30;
  lib().ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec);
  char buf[32 * 1024];
  bool localEof = false;
  while (!stop_) {
    // A closed local end would report POLLHUP forever: it leaves the set (fd -1) at EOF.
    pollfd fds[3] = {{localEof ? -1 : mine_, POLLIN, 0},
                     {lib().ssh_get_fd(s), POLLIN, 0},
                     {wake_, POLLIN, 0}};
    // Woken by either side or the destructor; the 1 s timeout only re-checks libssh's own
    // buffers in case it read more than one packet from the socket at once.
    int pr = ::poll(fds, 3, 1000);
    if (pr < 0 && errno != EINTR) break;
    if (!localEof && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::recv(mine_, buf, sizeof buf, 0);
      if (n > 0) {
        if (lib().ssh_channel_write(ch, buf, static_cast<uint32_t>(n)) != n) break;
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        localEof = true;
        lib().ssh_channel_send_eof(ch);
      }
    }
    // Reading also processes whatever packets arrived (window adjusts, EOF, close).
    bool progressed = true;
    while (progressed) {
      progressed = false;
      int k = lib().ssh_channel_read_nonblocking(ch, buf, sizeof buf, 0);
      if (k == SSH_ERROR) {
        stop_ = true;
        break;
      }
      if (k > 0) {
        if (!writeAll(mine_, buf, static_cast<size_t>(k))) {
          stop_ = true;
          break;
        }
        progressed = true;
      }
    }
    if (lib().ssh_channel_is_eof(ch) || !lib().ssh_channel_is_open(ch) || !lib().ssh_is_connected(s)) {
      ::shutdown(mine_, SHUT_WR);
      if (localEof || !lib().ssh_channel_is_open(ch)) break;
    }
  }
  ::shutdown(mine_, SHUT_RDWR);
  done_ = true;
}

}  // namespace tend::ssh
