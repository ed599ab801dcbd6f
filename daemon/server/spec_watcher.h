#pragma once
// inotify on the spec directory and its subdirectories (compose/, ...), debounced: an editor's
// atomic save (write temp + rename), `git checkout` or a burst of writes give one callback after
// the directory has been quiet for `debounce`. Runs its own thread; the callback only enqueues.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "core/result.h"

namespace tend::daemon {

class SpecWatcher {
 public:
  SpecWatcher(std::string dir, std::chrono::milliseconds debounce, std::function<void()> onChange);
  ~SpecWatcher();
  Result<void> start();
  void stop();

 private:
  void loop();
  void addRecursive(const std::string& dir);
  std::string dir_;
  std::chrono::milliseconds debounce_;
  std::function<void()> onChange_;
  int inotifyFd_ = -1;
  int stopFd_ = -1;
  std::map<int, std::string> watches_;
  std::thread thread_;
};

}  // namespace tend::daemon
