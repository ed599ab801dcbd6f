#include "daemon/server/spec_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/log.h"

namespace tend::daemon {
namespace fs = std::filesystem;

namespace {
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                           IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
}

SpecWatcher::SpecWatcher(std::string dir, std::chrono::milliseconds debounce,
                         std::function<void()> onChange)
    : dir_(std::move(dir)), debounce_(debounce), onChange_(std::move(onChange)) {}

SpecWatcher::~SpecWatcher() { stop(); }

void SpecWatcher::addRecursive(const std::string& dir) {
  int wd = inotify_add_watch(inotifyFd_, dir.c_str(), kMask | IN_ONLYDIR);
  if (wd < 0) {
    log::warn("spec watcher: cannot watch directory", {{"dir", dir}, {"error", std::strerror(errno)}});
    return;
  }
  watches_[wd] = dir;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_directory(ec) || e.is_symlink(ec)) continue;
    auto name = e.path().filename().string();
    // .git: only its top level matters (HEAD moves on checkout and commit); its object store
    // would flood the watcher.
    if (name == ".git") {
      int gwd = inotify_add_watch(inotifyFd_, e.path().c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
      if (gwd >= 0) watches_[gwd] = e.path().string();
      continue;
    }
    addRecursive(e.path().string());
  }
}

Result<void> SpecWatcher::start() {
  inotifyFd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotifyFd_ < 0) return makeError(std::string("inotify: ") + std::strerror(errno));
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  addRecursive(dir_);
  if (watches_.empty()) return makeError("cannot watch " + dir_);
  thread_ = std::thread([this] { loop(); });
  return {};
}

void SpecWatcher::stop() {
  if (stopFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stopFd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (inotifyFd_ >= 0) ::close(inotifyFd_);
  if (stopFd_ >= 0) ::close(stopFd_);
  inotifyFd_ = stopFd_ = -1;
}

void SpecWatcher::loop() {
  alignas(inotify_event) char buf[16 * 1024];
  bool dirty = false;
  bool rescan = false;
  // A directory that never goes quiet still gets reloaded every few seconds.
  const auto maxDelay = std::chrono::milliseconds(2000);
  auto firstDirty = std::chrono::steady_clock::now();
  for (;;) {
    pollfd fds[2] = {{inotifyFd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    int timeout = -1;
    if (dirty) {
      auto left = maxDelay - std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - firstDirty);
      timeout = static_cast<int>(std::max<int64_t>(0, std::min(debounce_.count(), left.count())));
    }
    int n = ::poll(fds, 2, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("spec watcher: poll failed", {{"error", std::strerror(errno)}});
      return;
    }
    if (fds[1].revents) return;
    const bool overdue = dirty && std::chrono::steady_clock::now() - firstDirty >= maxDelay;
    if (n == 0 || overdue) {
      // Quiet for `debounce`: one notification for the whole burst.
      if (rescan) {
        // Directories were created, moved or removed: rebuild the watch set.
        for (auto& [wd, d] : watches_) inotify_rm_watch(inotifyFd_, wd);
        watches_.clear();
        std::error_code ec;
        if (fs::is_directory(dir_, ec)) addRecursive(dir_);
        rescan = false;
      }
      dirty = false;
      onChange_();
      continue;
    }
    for (;;) {
      ssize_t len = ::read(inotifyFd_, buf, sizeof buf);
      if (len <= 0) break;
      for (char* p = buf; p < buf + len;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (!watches_.count(ev->wd) && !(ev->mask & IN_Q_OVERFLOW)) continue;  // removed by us
        if (!dirty) firstDirty = std::chrono::steady_clock::now();
        if (ev->mask & (IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) rescan = true;
        dirty = true;
      }
    }
  }
}

}  // namespace tend::daemon
