#include "providers/ssh/ssh_session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "core/log.h"
#include "providers/ssh/channel_bridge.h"
#include "providers/ssh/libssh_api.h"

namespace tend::ssh {
namespace {

constexpr size_t kChunk = 32 * 1024;
// Reads wait in slices this long so cancellation is noticed promptly.
constexpr std::chrono::milliseconds kSlice{50};

// libssh appends to the known_hosts file itself; two sessions accepting new hosts at once
// must not interleave their lines.
std::mutex& knownHostsMutex() {
  static std::mutex m;
  return m;
}

std::string keyFingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (lib().ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != 0) return "?";
  char* fp = lib().ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  lib().ssh_clean_pubkey_hash(&hash);
  if (!fp) return "?";
  std::string out = fp;
  lib().ssh_string_free_char(fp);
  return out;
}

std::string keyDescription(ssh_key key) {
  const char* type = lib().ssh_key_type_to_char(lib().ssh_key_type(key));
  return std::string(type ? type : "key") + " " + keyFingerprint(key);
}

std::string sftpErrorText(int code) {
  switch (code) {
    case SSH_FX_NO_SUCH_FILE: return "no such file";
    case SSH_FX_PERMISSION_DENIED: return "permission denied";
    case SSH_FX_FAILURE: return "failure";
    case SSH_FX_NO_SUCH_PATH: return "no such path";
    case SSH_FX_FILE_ALREADY_EXISTS: return "file already exists";
    case SSH_FX_WRITE_PROTECT: return "write protected";
    case SSH_FX_NO_MEDIA: return "no media";
    case SSH_FX_CONNECTION_LOST: return "connection lost";
    default: return "sftp error " + std::to_string(code);
  }
}

std::string parentDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string randomHex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += hex[rng() & 15];
  return s;
}

// Every key the known_hosts file records for this host ("type SHA256:…, …"), plain or hashed
// host names alike (libssh matches the line).
std::string recordedKeys(const HostConfig& cfg) {
  std::string host = cfg.port == 22 ? cfg.address : "[" + cfg.address + "]:" + std::to_string(cfg.port);
  std::ifstream f(cfg.knownHostsFile);
  std::string line, out;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    ssh_knownhosts_entry* e = nullptr;
    if (lib().ssh_known_hosts_parse_line(host.c_str(), line.c_str(), &e) == SSH_OK && e && e->publickey)
      out += (out.empty() ? "" : ", ") + keyDescription(e->publickey);
    if (e) lib().ssh_knownhosts_entry_free(e);
  }
  return out;
}

struct ChannelGuard {
  ssh_channel ch = nullptr;
  ~ChannelGuard() {
    if (!ch) return;
    if (lib().ssh_channel_is_open(ch)) lib().ssh_channel_close(ch);
    lib().ssh_channel_free(ch);
  }
};

}  // namespace

std::chrono::milliseconds CallOptions::remaining() const {
  if (deadline == Clock::time_point::max()) return std::chrono::hours(24 * 365);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return std::chrono::milliseconds(0);
  return std::max(left, std::chrono::milliseconds(1));
}

std::string HostConfig::target() const {
  std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  std::string t = user + "@" + host + ":" + std::to_string(port);
  if (!name.empty() && name != address) t += " (" + name + ")";
  return t;
}

std::string shellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string atomicWriteTempName(const std::string& path) {
  return parentDir(path) + "/." + path.substr(path.rfind('/') + 1) + ".tend-" + randomHex(10);
}

Result<std::string> fingerprintOfPublicKey(const std::string& line) {
  if (auto r = loadLibssh(); !r) return r.error();
  std::string type, b64;
  auto sp = line.find(' ');
  if (sp == std::string::npos) return makeError("not a public key line");
  type = line.substr(0, sp);
  auto rest = line.substr(sp + 1);
  b64 = rest.substr(0, rest.find(' '));
  ssh_key key = nullptr;
  if (lib().ssh_pki_import_pubkey_base64(b64.c_str(), lib().ssh_key_type_from_name(type.c_str()), &key) !=
      SSH_OK)
    return makeError("cannot parse public key of type " + type);
  std::string fp = keyFingerprint(key);
  lib().ssh_key_free(key);
  return fp;
}

// ---------------------------------------------------------------------------------------------
// Session: connect, verify, authenticate

Session::Session(HostConfig cfg) : cfg_(std::move(cfg)) {}

Session::~Session() {
  if (sftp_) lib().sftp_free(sftp_);
  if (s_) {
    if (lib().ssh_is_connected(s_)) lib().ssh_disconnect(s_);
    lib().ssh_free(s_);
  }
  if (jumpFd_ >= 0 && jump_) {
    // Still ours only if it still names the bridge's socket (libssh may have closed it and
    // the number may have been reused since).
    struct stat a {}, b {};
    if (::fstat(jumpFd_, &a) == 0 && ::fstat(jump_->localFd(), &b) == 0 && a.st_ino == b.st_ino &&
        a.st_dev == b.st_dev)
      ::close(jumpFd_);
  }
  jump_.reset();  // after the session that ran over it
}

Result<std::unique_ptr<Session>> Session::open(const HostConfig& cfg, const CallOptions& opts) {
  if (auto r = loadLibssh(); !r) return makeError(cfg.target() + ": " + r.error().message, true);
  if (cfg.knownHostsFile.empty())
    return makeError(cfg.target() + ": no known_hosts_file configured (host keys are always checked)",
                     true);
  if (cfg.privateKeyFile.empty() == cfg.privateKey.empty())
    return makeError(cfg.target() + ": give exactly one of private_key and private_key_file", true);
  std::unique_ptr<Session> s(new Session(cfg));
  if (auto r = s->connectAndVerify(opts); !r) return r.error();
  if (auto r = s->authenticate(opts); !r) return r.error();
  s->lastUsed_ = Clock::now();
  return s;
}

Result<void> Session::arm(const CallOptions& opts, const char* what,
                          std::chrono::milliseconds cap) {
  if (opts.isCancelled()) return makeError(cfg_.target() + ": " + what + ": cancelled");
  auto left = opts.remaining();
  if (left.count() == 0) return makeError(cfg_.target() + ": " + what + ": deadline exceeded");
  left = std::min(left, cap);
  long sec = static_cast<long>(left.count() / 1000);
  long usec = static_cast<long>((left.count() % 1000) * 1000);
  if (sec == 0 && usec == 0) usec = 1000;
  lib().ssh_options_set(s_, SSH_OPTIONS_TIMEOUT, &sec);
  lib().ssh_options_set(s_, SSH_OPTIONS_TIMEOUT_USEC, &usec);
  return {};
}

Error Session::fail(const std::string& what) {
  std::string detail = s_ ? lib().ssh_get_error(s_) : "";
  if (s_ && !lib().ssh_is_connected(s_)) broken_ = true;
  std::string msg = cfg_.target() + ": " + what;
  if (!detail.empty()) msg += ": " + detail;
  return makeError(msg);
}

Result<void> Session::connectAndVerify(const CallOptions& opts) {
  s_ = lib().ssh_new();
  if (!s_) return makeError(cfg_.target() + ": cannot allocate an SSH session");
  int port = cfg_.port;
  int nodelay = 1;
  bool processConfig = false;  // ~/.ssh/config and /etc/ssh/ssh_config must not change tend's
  lib().ssh_options_set(s_, SSH_OPTIONS_PROCESS_CONFIG, &processConfig);
  lib().ssh_options_set(s_, SSH_OPTIONS_HOST, cfg_.address.c_str());
  lib().ssh_options_set(s_, SSH_OPTIONS_PORT, &port);
  lib().ssh_options_set(s_, SSH_OPTIONS_USER, cfg_.user.c_str());
  lib().ssh_options_set(s_, SSH_OPTIONS_NODELAY, &nodelay);
  // Both the user and the global file point at tend's: /etc/ssh/ssh_known_hosts never counts.
  lib().ssh_options_set(s_, SSH_OPTIONS_KNOWNHOSTS, cfg_.knownHostsFile.c_str());
  lib().ssh_options_set(s_, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, cfg_.knownHostsFile.c_str());
  auto connectOpts = opts;
  connectOpts.deadline = std::min(opts.deadline, Clock::now() + cfg_.connectTimeout);
  if (cfg_.proxyJump) {
    auto jump = Session::open(*cfg_.proxyJump, connectOpts);
    if (!jump) {
      broken_ = true;
      return makeError(cfg_.target() + ": proxy_jump " + jump.error().message,
                       jump.error().terminal);
    }
    auto ch = (*jump)->openDirectTcp(cfg_.address, cfg_.port, connectOpts);
    if (!ch) {
      broken_ = true;
      return makeError(cfg_.target() + ": through proxy_jump: " + ch.error().message);
    }
    auto bridge = ChannelBridge::start(std::move(*jump), std::move(*ch));
    if (!bridge) {
      broken_ = true;
      return makeError(cfg_.target() + ": " + bridge.error().message);
    }
    // libssh gets a duplicate: whether it closes a descriptor given with SSH_OPTIONS_FD
    // differs between versions, and the destructor must close it exactly once.
    jumpFd_ = ::dup((*bridge)->localFd());
    if (jumpFd_ < 0) {
      broken_ = true;
      return makeError(cfg_.target() + ": dup: " + std::strerror(errno));
    }
    lib().ssh_options_set(s_, SSH_OPTIONS_FD, &jumpFd_);
    jump_ = std::move(*bridge);
  }
  if (auto r = arm(connectOpts, "connect"); !r) return r;
  if (lib().ssh_connect(s_) != SSH_OK) {
    broken_ = true;
    bool timedOut = connectOpts.expired();
    return makeError(cfg_.target() + ": cannot connect" +
                     (timedOut ? " (no answer within " +
                                     std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        cfg_.connectTimeout)
                                                        .count()) +
                                     " ms)"
                               : "") +
                     ": " + lib().ssh_get_error(s_));
  }

  ssh_key offered = nullptr;
  if (lib().ssh_get_server_publickey(s_, &offered) != SSH_OK) return fail("no host key offered");
  std::string offeredDesc = keyDescription(offered);
  lib().ssh_key_free(offered);

  auto state = lib().ssh_session_is_known_server(s_);
  std::string expectedDesc;
  if (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER)
    expectedDesc = recordedKeys(cfg_);

  switch (state) {
    case SSH_KNOWN_HOSTS_OK:
      return {};
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      broken_ = true;
      return makeError(cfg_.target() + ": host key mismatch, connection refused: " +
                           cfg_.knownHostsFile + " expects " +
                           (expectedDesc.empty() ? std::string("another key") : expectedDesc) +
                           ", the host offered " + offeredDesc +
                           " (nothing was executed; if the host was rebuilt, remove its line from " +
                           cfg_.knownHostsFile + ")",
                       true);
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND: {
      if (!cfg_.acceptNew) {
        broken_ = true;
        return makeError(cfg_.target() + ": unknown host key " + offeredDesc + ", not in " +
                             cfg_.knownHostsFile +
                             " (connection refused; add the key to that file, or set "
                             "accept_new: true to record keys of new hosts)",
                         true);
      }
      std::lock_guard lk(knownHostsMutex());
      // Created 0600 by us, so libssh's fopen("a") does not leave it world-readable.
      namespace fs = std::filesystem;
      std::error_code ec;
      fs::path kh(cfg_.knownHostsFile);
      if (kh.has_parent_path()) fs::create_directories(kh.parent_path(), ec);
      if (!fs::exists(kh, ec)) {
        int fd = ::open(cfg_.knownHostsFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) ::close(fd);
      }
      // Another session may have recorded this host meanwhile.
      if (lib().ssh_session_is_known_server(s_) == SSH_KNOWN_HOSTS_OK) return {};
      if (lib().ssh_session_update_known_hosts(s_) != SSH_OK)
        return fail("cannot record the host key in " + cfg_.knownHostsFile);
      log::warn("ssh: accept_new recorded the host key of a new host",
                {{"host", cfg_.target()}, {"key", offeredDesc}, {"known_hosts", cfg_.knownHostsFile}});
      return {};
    }
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      broken_ = true;
      return makeError(cfg_.target() + ": cannot check the host key against " +
                           cfg_.knownHostsFile + ": " + lib().ssh_get_error(s_),
                       true);
  }
}

Result<void> Session::authenticate(const CallOptions& opts) {
  ssh_key key = nullptr;
  if (!cfg_.privateKeyFile.empty()) {
    if (lib().ssh_pki_import_privkey_file(cfg_.privateKeyFile.c_str(), nullptr, nullptr, nullptr,
                                    &key) != SSH_OK) {
      broken_ = true;
      return makeError(cfg_.target() + ": cannot read private key file " + cfg_.privateKeyFile +
                           " (OpenSSH or PEM format, without a passphrase)",
                       true);
    }
  } else {
    // Key material from a secret: the message never quotes it.
    if (lib().ssh_pki_import_privkey_base64(cfg_.privateKey.reveal().c_str(), nullptr, nullptr, nullptr,
                                      &key) != SSH_OK) {
      broken_ = true;
      return makeError(cfg_.target() +
                           ": the private_key secret is not a private key (OpenSSH or PEM "
                           "format, without a passphrase)",
                       true);
    }
  }
  if (auto r = arm(opts, "authenticate"); !r) {
    lib().ssh_key_free(key);
    return r;
  }
  int rc = lib().ssh_userauth_publickey(s_, nullptr, key);
  lib().ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS) {
    broken_ = true;
    if (rc == SSH_AUTH_ERROR) return fail("authentication as " + cfg_.user + " failed");
    return makeError(cfg_.target() + ": authentication as " + cfg_.user +
                     " refused (publickey): the key is not authorized for this user");
  }
  return {};
}

bool Session::usable() const { return s_ && !broken_ && lib().ssh_is_connected(s_); }

bool Session::keepAlive(const CallOptions& opts) {
  if (!usable()) return false;
  auto limit = std::min<std::chrono::milliseconds>(opts.remaining(), std::chrono::seconds(5));
  if (!arm(opts, "keepalive", limit)) return false;
  auto start = Clock::now();
  lib().ssh_send_keepalive(s_);
  // No answer within the time given: the exchange may be half done, do not reuse.
  if (Clock::now() - start >= limit || !lib().ssh_is_connected(s_)) broken_ = true;
  if (!broken_) lastUsed_ = Clock::now();
  return !broken_;
}

// ---------------------------------------------------------------------------------------------
// exec

Result<ExecResult> Session::exec(const std::string& command, const CallOptions& opts,
                                 std::string_view input) {
  if (auto r = begin(); !r) return r.error();
  if (auto r = arm(opts, "exec"); !r) return r.error();
  ChannelGuard g{lib().ssh_channel_new(s_)};
  if (!g.ch) return fail("cannot allocate a channel");
  if (lib().ssh_channel_open_session(g.ch) != SSH_OK) {
    // The host never saw a command: a dead connection may be retried on a fresh one.
    failedBeforeSending_ = !lib().ssh_is_connected(s_);
    return fail("cannot open a channel");
  }
  if (lib().ssh_channel_request_exec(g.ch, command.c_str()) != SSH_OK) return fail("cannot start command");
  lastUsed_ = Clock::now();

  ExecResult res;
  size_t sent = 0;
  bool eofSent = false;
  char buf[kChunk];
  auto interrupted = [&](const char* why) {
    // The channel is closed by the guard; the command may still be running remotely.
    return makeError(cfg_.target() + ": command " + why + " (" + std::to_string(res.out.size()) +
                     " bytes of output so far)");
  };
  while (true) {
    if (opts.isCancelled()) return interrupted("cancelled");
    if (opts.expired()) return interrupted("did not finish before the deadline");
    if (!eofSent) {
      // Only what fits the remote window is written, so stdin never blocks while the
      // command waits for us to read its output.
      uint32_t win = lib().ssh_channel_window_size(g.ch);
      if (sent < input.size() && win > 0) {
        size_t n = std::min<size_t>({input.size() - sent, kChunk, win});
        if (auto r = arm(opts, "exec"); !r) return r.error();
        int w = lib().ssh_channel_write(g.ch, input.data() + sent, static_cast<uint32_t>(n));
        if (w < 0) return fail("writing stdin");
        sent += static_cast<size_t>(w);
      }
      if (sent >= input.size()) {
        lib().ssh_channel_send_eof(g.ch);
        eofSent = true;
      }
    }
    bool got = false;
    int n = lib().ssh_channel_read_nonblocking(g.ch, buf, sizeof buf, 1);
    if (n == SSH_ERROR) return fail("reading stderr");
    if (n > 0) {
      res.err.append(buf, static_cast<size_t>(n));
      got = true;
    }
    int waitMs = (!eofSent || got) ? 0 : static_cast<int>(std::min(opts.remaining(), kSlice).count());
    if (auto r = arm(opts, "exec"); !r) return interrupted("did not finish before the deadline");
    n = waitMs > 0 ? lib().ssh_channel_read_timeout(g.ch, buf, sizeof buf, 0, waitMs)
                   : lib().ssh_channel_read_nonblocking(g.ch, buf, sizeof buf, 0);
    if (n == SSH_ERROR) return fail("reading stdout");
    if (n > 0) res.out.append(buf, static_cast<size_t>(n));
    if (res.out.size() + res.err.size() > kMaxOutputBytes)
      return interrupted("produced more than 64 MiB of output");
    if (eofSent && lib().ssh_channel_is_eof(g.ch)) break;
    if (!lib().ssh_channel_is_open(g.ch) && lib().ssh_channel_is_eof(g.ch)) break;
  }
  if (auto r = arm(opts, "exec"); !r) return interrupted("did not finish before the deadline");
  res.exitStatus = lib().ssh_channel_get_exit_status(g.ch);
  if (res.exitStatus == SSH_ERROR) res.exitStatus = -1;
  lastUsed_ = Clock::now();
  return res;
}

// ---------------------------------------------------------------------------------------------
// SFTP

Result<sftp_session_struct*> Session::sftp(const CallOptions& opts) {
  if (auto r = begin(); !r) return r.error();
  if (sftp_) return sftp_;
  if (auto r = arm(opts, "sftp"); !r) return r.error();
  sftp_session sf = lib().sftp_new(s_);
  if (!sf) {
    failedBeforeSending_ = !lib().ssh_is_connected(s_);
    return fail("cannot open an SFTP channel");
  }
  if (lib().sftp_init(sf) != SSH_OK) {
    int code = lib().sftp_get_error(sf);
    lib().sftp_free(sf);
    return fail("SFTP init failed (" + sftpErrorText(code) + ")");
  }
  sftp_ = sf;
  return sftp_;
}

Result<std::optional<std::string>> Session::readFile(const std::string& path,
                                                     const CallOptions& opts) {
  auto sf = sftp(opts);
  if (!sf) return sf.error();
  if (auto r = arm(opts, "read"); !r) return r.error();
  sftp_file f = lib().sftp_open(*sf, path.c_str(), O_RDONLY, 0);
  if (!f) {
    int code = lib().sftp_get_error(*sf);
    if (code == SSH_FX_NO_SUCH_FILE) return std::optional<std::string>{};
    return fail("cannot open " + path + " (" + sftpErrorText(code) + ")");
  }
  std::string out;
  char buf[kChunk];
  while (true) {
    if (opts.isCancelled() || opts.expired()) {
      lib().sftp_close(f);
      return makeError(cfg_.target() + ": reading " + path +
                       (opts.isCancelled() ? ": cancelled" : ": deadline exceeded"));
    }
    if (auto r = arm(opts, "read"); !r) {
      lib().sftp_close(f);
      return r.error();
    }
    ssize_t n = lib().sftp_read(f, buf, sizeof buf);
    if (n < 0) {
      int code = lib().sftp_get_error(*sf);
      lib().sftp_close(f);
      return fail("reading " + path + " (" + sftpErrorText(code) + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxOutputBytes) {
      lib().sftp_close(f);
      return makeError(cfg_.target() + ": " + path + " is larger than 64 MiB");
    }
  }
  lib().sftp_close(f);
  lastUsed_ = Clock::now();
  return std::optional<std::string>(std::move(out));
}

void Session::removeQuietly(const std::string& path) {
  if (!sftp_ || !usable()) return;
  // A short deadline of its own: cleanup also runs after the caller's deadline passed.
  if (!arm(CallOptions::within(std::chrono::seconds(2)), "cleanup")) return;
  lib().sftp_unlink(sftp_, path.c_str());
}

Result<void> Session::writeFileAtomic(const std::string& path, std::string_view content,
                                      const WriteOptions& w, const CallOptions& opts) {
  if (path.empty() || path[0] != '/' || path.back() == '/')
    return makeError(cfg_.target() + ": '" + path + "' is not an absolute file path", true);
  auto sf = sftp(opts);
  if (!sf) return sf.error();
  const std::string dir = parentDir(path);
  const std::string base = path.substr(path.rfind('/') + 1);

  if (auto r = arm(opts, "write"); !r) return r;
  std::optional<unsigned> oldMode;
  std::optional<uid_t> oldUid;
  std::optional<gid_t> oldGid;
  if (sftp_attributes a = lib().sftp_stat(*sf, path.c_str())) {
    if (a->type == SSH_FILEXFER_TYPE_DIRECTORY) {
      lib().sftp_attributes_free(a);
      return makeError(cfg_.target() + ": " + path + " is a directory", true);
    }
    oldMode = a->permissions & 07777;
    oldUid = a->uid;
    oldGid = a->gid;
    lib().sftp_attributes_free(a);
  } else if (int code = lib().sftp_get_error(*sf); code != SSH_FX_NO_SUCH_FILE) {
    return fail("cannot stat " + path + " (" + sftpErrorText(code) + ")");
  }
  unsigned mode = w.mode ? *w.mode : oldMode ? *oldMode : 0644;

  const std::string tmp = atomicWriteTempName(path);
  sftp_file f = lib().sftp_open(*sf, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (!f) {
    int code = lib().sftp_get_error(*sf);
    return fail("cannot create a temporary file in " + dir + " (" + sftpErrorText(code) + ")");
  }
  auto abandon = [&](Error e) -> Result<void> {
    if (f) lib().sftp_close(f);
    removeQuietly(tmp);
    return e;
  };
  size_t written = 0;
  while (written < content.size()) {
    if (opts.isCancelled())
      return abandon(makeError(cfg_.target() + ": writing " + path + ": cancelled (old file kept)"));
    if (opts.expired())
      return abandon(
          makeError(cfg_.target() + ": writing " + path + ": deadline exceeded (old file kept)"));
    if (auto r = arm(opts, "write"); !r) return abandon(r.error());
    size_t n = std::min(kChunk, content.size() - written);
    ssize_t k = lib().sftp_write(f, content.data() + written, n);
    if (k < 0) {
      int code = lib().sftp_get_error(*sf);
      return abandon(fail("writing " + tmp + " (" + sftpErrorText(code) + ")"));
    }
    written += static_cast<size_t>(k);
    if (w.onProgress) w.onProgress(written);
  }
  if (lib().sftp_extension_supported(*sf, "fsync@openssh.com", "1") && lib().sftp_fsync(f) != 0)
    return abandon(fail("fsync of " + tmp + " failed"));
  int closed = lib().sftp_close(f);
  f = nullptr;
  if (closed != SSH_NO_ERROR) return abandon(fail("closing " + tmp + " failed"));
  if (lib().sftp_chmod(*sf, tmp.c_str(), mode) != 0)
    return abandon(fail("cannot set mode " + std::to_string(mode) + " on " + tmp));
  std::optional<uid_t> uid = w.uid ? w.uid : oldUid;
  std::optional<gid_t> gid = w.gid ? w.gid : oldGid;
  if (uid || gid) {
    sftp_attributes t = lib().sftp_stat(*sf, tmp.c_str());
    if (!t) return abandon(fail("cannot stat " + tmp));
    uid_t u = uid ? *uid : t->uid;
    gid_t g = gid ? *gid : t->gid;
    bool change = u != t->uid || g != t->gid;
    lib().sftp_attributes_free(t);
    if (change && lib().sftp_chown(*sf, tmp.c_str(), u, g) != 0)
      return abandon(fail("cannot set owner " + std::to_string(u) + ":" + std::to_string(g) +
                          " on " + tmp + " (" + sftpErrorText(lib().sftp_get_error(*sf)) + ")"));
  }
  if (opts.isCancelled() || opts.expired())
    return abandon(makeError(cfg_.target() + ": writing " + path +
                             (opts.isCancelled() ? ": cancelled" : ": deadline exceeded") +
                             " (old file kept)"));
  // SFTP v3 rename refuses to replace an existing file and libssh has no posix-rename call, so
  // the replace is rename(2) through mv -T; the directory is then synced so the new entry is
  // durable. One round trip.
  auto r = exec("mv -fT -- " + shellQuote(tmp) + " " + shellQuote(path) + " && sync -- " +
                    shellQuote(dir),
                opts);
  if (!r) return abandon(r.error());
  if (r->exitStatus != 0) {
    std::string why = r->err.empty() ? r->out : r->err;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    return abandon(makeError(cfg_.target() + ": cannot replace " + path + ": " + why));
  }
  lastUsed_ = Clock::now();
  return {};
}

// ---------------------------------------------------------------------------------------------
// direct-streamlocal

Result<void> Session::begin() {
  failedBeforeSending_ = false;
  if (usable()) return {};
  failedBeforeSending_ = true;
  return makeError(cfg_.target() + ": session is closed");
}

Result<std::unique_ptr<StreamChannel>> Session::openForward(
    const char* what, const CallOptions& opts, const std::function<int(ssh_channel_struct*)>& open,
    const std::string& refused) {
  if (auto r = begin(); !r) return r.error();
  if (auto r = arm(opts, what); !r) return r.error();
  ssh_channel ch = lib().ssh_channel_new(s_);
  if (!ch) return fail("cannot allocate a channel");
  if (open(ch) != SSH_OK) {
    failedBeforeSending_ = !lib().ssh_is_connected(s_);
    lib().ssh_channel_free(ch);
    return fail(refused);
  }
  lastUsed_ = Clock::now();
  return std::unique_ptr<StreamChannel>(new StreamChannel(*this, ch));
}

// The originator address/port sent with both kinds of forward are informational for the server.
Result<std::unique_ptr<StreamChannel>> Session::openStreamLocal(const std::string& socketPath,
                                                                const CallOptions& opts) {
  return openForward(
      "streamlocal", opts,
      [&](ssh_channel ch) {
        return lib().ssh_channel_open_forward_unix(ch, socketPath.c_str(), "127.0.0.1", 0);
      },
      "cannot open a stream to " + socketPath +
          " (direct-streamlocal refused: check AllowStreamLocalForwarding and the socket's "
          "permissions)");
}

Result<std::unique_ptr<StreamChannel>> Session::openDirectTcp(const std::string& host, int port,
                                                              const CallOptions& opts) {
  return openForward(
      "direct-tcpip", opts,
      [&](ssh_channel ch) {
        return lib().ssh_channel_open_forward(ch, host.c_str(), port, "127.0.0.1", 0);
      },
      "cannot open a connection to " + host + ":" + std::to_string(port) +
          " (direct-tcpip refused: check AllowTcpForwarding/PermitOpen)");
}

StreamChannel::~StreamChannel() {
  if (lib().ssh_channel_is_open(ch_)) lib().ssh_channel_close(ch_);
  lib().ssh_channel_free(ch_);
}

void StreamChannel::sendEof() { lib().ssh_channel_send_eof(ch_); }

Result<void> StreamChannel::write(std::string_view data, const CallOptions& opts) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (auto r = s_.arm(opts, "stream write"); !r) {
      s_.broken_ = true;  // a partly written request leaves the stream unusable
      return r;
    }
    size_t n = std::min(kChunk, data.size() - sent);
    int w = lib().ssh_channel_write(ch_, data.data() + sent, static_cast<uint32_t>(n));
    if (w < 0) return s_.fail("stream write");
    sent += static_cast<size_t>(w);
  }
  s_.lastUsed_ = Clock::now();
  return {};
}

Result<size_t> StreamChannel::read(char* buf, size_t n, const CallOptions& opts) {
  while (true) {
    if (opts.isCancelled()) return makeError(s_.cfg_.target() + ": stream read cancelled");
    if (opts.expired()) return makeError(s_.cfg_.target() + ": stream read: deadline exceeded");
    if (auto r = s_.arm(opts, "stream read"); !r) return r.error();
    int waitMs = static_cast<int>(std::min(opts.remaining(), kSlice).count());
    int k = lib().ssh_channel_read_timeout(ch_, buf, static_cast<uint32_t>(std::min(n, kChunk)), 0,
                                     waitMs);
    if (k == SSH_ERROR) return s_.fail("stream read");
    if (k > 0) {
      s_.lastUsed_ = Clock::now();
      return static_cast<size_t>(k);
    }
    if (lib().ssh_channel_is_eof(ch_) || !lib().ssh_channel_is_open(ch_)) return size_t{0};
  }
}

Result<std::string> StreamChannel::readAll(const CallOptions& opts) {
  std::string out;
  char buf[kChunk];
  while (true) {
    auto n = read(buf, sizeof buf, opts);
    if (!n) return n.error();
    if (*n == 0) return out;
    out.append(buf, *n);
    if (out.size() > kMaxOutputBytes)
      return makeError(s_.cfg_.target() + ": stream sent more than 64 MiB");
  }
}

}  // namespace tend::ssh
