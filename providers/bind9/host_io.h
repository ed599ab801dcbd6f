#pragma once
// The seam between the zone writer and the machine named runs on: a small "host filesystem +
// command runner". The local implementation (host_io_local.cpp) uses POSIX calls and
// posix_spawn; the SSH provider will implement the same interface over SFTP + exec so the
// bind9 provider can write zones on a remote DNS server without changing its logic.
//
// Every call is blocking and is made from the engine's worker pool. Errors are values.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace tend::bind9 {

struct FileStat {
  bool isDir = false;
  uint64_t size = 0;
  int64_t mtimeNs = 0;  // nanoseconds since the epoch
};

struct DirEntry {
  std::string name;  // base name
  bool isDir = false;
};

struct CommandResult {
  int exitCode = -1;  // -1 when killed by a signal or the timeout
  bool timedOut = false;
  std::string out;
  std::string err;
  // stderr if non-empty, else stdout; trimmed. What a user wants to read on failure.
  std::string message() const;
};

class HostIo {
 public:
  virtual ~HostIo() = default;
  // A short label for messages ("local", "ssh://networking").
  virtual std::string describe() const = 0;
  // nullopt when the file does not exist.
  virtual Result<std::optional<std::string>> readFile(const std::string& path) = 0;
  // Creates/truncates `path`, writes `content`, fsyncs it. Used for temp files only; the
  // target is replaced with rename() so readers never see a half-written file.
  virtual Result<void> writeFile(const std::string& path, const std::string& content,
                                 unsigned mode) = 0;
  // Atomic replace of `to` by `from` (same filesystem), then fsync of the directory.
  virtual Result<void> rename(const std::string& from, const std::string& to) = 0;
  // Hard link (keeps the previous file as <file>.prev without a window where the target is
  // missing). Replaces an existing `to`.
  virtual Result<void> link(const std::string& from, const std::string& to) = 0;
  // nullopt when absent.
  virtual Result<std::optional<FileStat>> stat(const std::string& path) = 0;
  // Removing a missing file is not an error.
  virtual Result<void> remove(const std::string& path) = 0;
  virtual Result<void> makeDirs(const std::string& path, unsigned mode) = 0;
  // Empty when the directory does not exist.
  virtual Result<std::vector<DirEntry>> listDir(const std::string& path) = 0;
  // argv[0] is looked up in PATH. No shell is involved. A non-zero exit is not an error
  // (the caller reads exitCode); failing to start the program is.
  virtual Result<CommandResult> run(const std::vector<std::string>& argv,
                                    std::chrono::milliseconds timeout) = 0;
};

std::unique_ptr<HostIo> makeLocalHostIo();

}  // namespace tend::bind9
