#pragma once
// One authenticated SSH connection to one host (libssh), and what tend does over it: run a
// command, read and atomically write files over SFTP, open a byte stream to a remote unix
// socket (direct-streamlocal@openssh.com, Docker over SSH).
//
// Everything here blocks: it is called from worker threads, never from an io_context thread.
// A Session is used by one thread at a time (libssh sessions are not thread-safe); HostPool
// (host_pool.h) lends sessions to workers. Every call takes a deadline and a cancellation
// flag; an expired or cancelled call returns an error and, when libssh was interrupted mid-
// exchange, marks the session unusable so the pool replaces it.
//
// Host keys are checked strictly against the configured known_hosts file before anything is
// sent: a changed key is refused with the expected and offered SHA256 fingerprints; an
// unknown host is refused unless accept_new is set, which records the key and logs it.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/secrets.h"

// libssh's handle types, so this header does not pull in <libssh/libssh.h>.
struct ssh_session_struct;
struct ssh_channel_struct;
struct sftp_session_struct;

namespace tend::ssh {

using Clock = std::chrono::steady_clock;

// Deadline and cancellation of one call (mirrors CallContext's fields, so a provider passes
// its context's through).
struct CallOptions {
  Clock::time_point deadline = Clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;

  static CallOptions within(std::chrono::milliseconds d, const std::atomic<bool>* c = nullptr) {
    return CallOptions{Clock::now() + d, c};
  }
  bool isCancelled() const { return cancelled && cancelled->load(); }
  bool expired() const { return Clock::now() >= deadline; }
  // Time left, at least 1 ms while not expired; 0 once expired.
  std::chrono::milliseconds remaining() const;
};

// How to reach and trust one host. Built from `providers.ssh` plus the host's address and
// ssh_port (settings.h).
struct HostConfig {
  std::string name;  // the host's name in the spec, for messages
  std::string address;
  int port = 22;
  std::string user = "root";
  // Exactly one of the two: a key file, or key material in memory (a ${secret:…} already
  // resolved). OpenSSH or PEM format, without a passphrase.
  std::string privateKeyFile;
  SecretString privateKey;
  std::string knownHostsFile;  // required: host keys are always checked
  bool acceptNew = false;      // record the key of a host not yet in knownHostsFile
  std::chrono::milliseconds connectTimeout{10000};
  // Idle sessions older than this are probed (keepalive@openssh.com) before reuse and by
  // HostPool::keepAlive.
  std::chrono::milliseconds keepAliveInterval{30000};
  // Reach the host through this one (a bastion): the connection to address:port is a
  // direct-tcpip channel of a session to the jump host, checked against the same rules.
  std::shared_ptr<const HostConfig> proxyJump;

  // "user@address:port", the way messages name the host.
  std::string target() const;
};

struct ExecResult {
  int exitStatus = -1;  // -1 when the command died of a signal or sent no status
  std::string out;
  std::string err;
};

struct WriteOptions {
  std::optional<unsigned> mode;  // default: the replaced file's mode, else 0644
  std::optional<uid_t> uid;      // default: the replaced file's owner (numeric ids only)
  std::optional<gid_t> gid;
  // Called after each chunk with the bytes written so far (progress, tests cutting a write).
  std::function<void(size_t)> onProgress;
};

// Limits what one exec or read keeps in memory; more is an error, not a truncation.
inline constexpr size_t kMaxOutputBytes = 64u << 20;

class StreamChannel;
class ChannelBridge;

class Session {
 public:
  // Connects, verifies the host key, authenticates. Nothing else is sent before the key
  // matched. Errors name the host; a refused host key is a terminal error.
  static Result<std::unique_ptr<Session>> open(const HostConfig& cfg, const CallOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs `command` through the user's login shell; `input` is sent on stdin, then EOF.
  // A non-zero exit is not an error (read exitStatus).
  Result<ExecResult> exec(const std::string& command, const CallOptions& opts,
                          std::string_view input = {});
  // nullopt when the file does not exist.
  Result<std::optional<std::string>> readFile(const std::string& path, const CallOptions& opts);
  // Writes a temporary file beside `path` (same directory, so the same filesystem), fsyncs it,
  // sets mode and owner, then renames it over `path` and syncs the directory. A write cut off
  // at any point leaves the old file as it was; the temporary file is removed when the
  // connection still allows it.
  Result<void> writeFileAtomic(const std::string& path, std::string_view content,
                               const WriteOptions& w, const CallOptions& opts);
  // A byte stream to the remote unix socket `socketPath` (direct-streamlocal@openssh.com).
  // The channel borrows this session: close it before the session is used elsewhere.
  Result<std::unique_ptr<StreamChannel>> openStreamLocal(const std::string& socketPath,
                                                         const CallOptions& opts);
  // A byte stream to host:port as seen from this host (direct-tcpip), e.g. for proxy_jump.
  Result<std::unique_ptr<StreamChannel>> openDirectTcp(const std::string& host, int port,
                                                       const CallOptions& opts);

  // Sends keepalive@openssh.com and waits for the answer; false when the connection is gone.
  bool keepAlive(const CallOptions& opts);
  // Connected, and no call was interrupted mid-exchange.
  bool usable() const;
  // The last call failed before anything reached the host (the connection was already dead):
  // safe to retry on a fresh session.
  bool failedBeforeSending() const { return failedBeforeSending_; }
  Clock::time_point lastUsed() const { return lastUsed_; }
  const HostConfig& config() const { return cfg_; }

 private:
  friend class StreamChannel;
  friend class ChannelBridge;
  explicit Session(HostConfig cfg);
  Result<void> connectAndVerify(const CallOptions& opts);
  Result<void> authenticate(const CallOptions& opts);
  Result<sftp_session_struct*> sftp(const CallOptions& opts);
  // Sets libssh's timeout for the next blocking call to what is left of the deadline (capped).
  Result<void> arm(const CallOptions& opts, const char* what,
                   std::chrono::milliseconds cap = std::chrono::hours(24));
  // Clears failedBeforeSending_; an error (nothing sent) when the session is not usable.
  Result<void> begin();
  Result<std::unique_ptr<StreamChannel>> openForward(
      const char* what, const CallOptions& opts,
      const std::function<int(ssh_channel_struct*)>& open, const std::string& refused);
    Error fail(const std::string& what);  // "<target>: what: <libssh error>", marks if needed
  void removeQuietly(const std::string& path);

  HostConfig cfg_;
  ssh_session_struct* s_ = nullptr;
  sftp_session_struct* sftp_ = nullptr;
  std::unique_ptr<ChannelBridge> jump_;  // the proxy_jump pipe the connection runs over
  int jumpFd_ = -1;                      // libssh's descriptor of that pipe
  bool broken_ = false;
  bool failedBeforeSending_ = false;
  Clock::time_point lastUsed_ = Clock::now();
};

// A byte stream over one direct-streamlocal channel. Blocking, deadline per call.
class StreamChannel {
 public:
  ~StreamChannel();
  StreamChannel(const StreamChannel&) = delete;
  StreamChannel& operator=(const StreamChannel&) = delete;
  Result<void> write(std::string_view data, const CallOptions& opts);
  // Up to `n` bytes; 0 at end of stream. Waits for data until the deadline.
  Result<size_t> read(char* buf, size_t n, const CallOptions& opts);
  // Reads until end of stream (or kMaxOutputBytes).
  Result<std::string> readAll(const CallOptions& opts);
  void sendEof();

 private:
  friend class Session;
  friend class ChannelBridge;
  StreamChannel(Session& s, ssh_channel_struct* ch) : s_(s), ch_(ch) {}
  Session& s_;
  ssh_channel_struct* ch_;
};

// SHA256 fingerprint of an OpenSSH public key line ("ssh-ed25519 AAAA… comment") in the form
// ssh-keygen -lf prints ("SHA256:…"), or an error.
Result<std::string> fingerprintOfPublicKey(const std::string& line);

// Quotes `s` for a POSIX shell (single quotes).
std::string shellQuote(std::string_view s);

// The temporary file Session::writeFileAtomic writes beside `path` before the rename:
// <dir>/.<name>.tend-<10 random lower-case hex digits>. A write cut off with the connection
// leaves it behind; whoever owns the directory may sweep such names (providers/bind9 does).
std::string atomicWriteTempName(const std::string& path);

}  // namespace tend::ssh
