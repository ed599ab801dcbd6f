// HostIo on a DNS server reached over SSH: the daemon's host sessions (core/host_sessions.h),
// so named's machine costs no connection of its own. Files go through the session's read and
// atomic write; the rest is one exec each of a coreutils program, arguments passed without a
// shell (the registry quotes each one). A script is used only where two steps must be one
// call (rename + fsync of the directory).
#include "providers/bind9/host_io_sessions.h"

#include <cstdio>
#include <sstream>

namespace tend::bind9 {

namespace {

constexpr std::chrono::seconds kFileOpTimeout{60};

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class SessionsHostIo final : public HostIo {
 public:
  SessionsHostIo(HostSessions& sessions, HostAddress host) : sessions_(sessions), host_(std::move(host)) {}

  std::string describe() const override { return host_.describe(); }

  Result<std::optional<std::string>> readFile(const std::string& path) override {
    auto r = sessions_.readFile(host_, path);
    if (!r) return where(r.error());
    return r;
  }

  Result<void> writeFile(const std::string& path, const std::string& content, unsigned mode) override {
    auto r = sessions_.writeFile(host_, path, content, mode);
    if (!r) return where(r.error());
    return {};
  }

  Result<void> rename(const std::string& from, const std::string& to) override {
    return step({"sh", "-c", "mv -fT -- \"$1\" \"$2\" && sync -- \"$3\"", "sh", from, to, dirOf(to)},
                "rename " + from + " to " + to);
  }

  Result<void> link(const std::string& from, const std::string& to) override {
    return step({"ln", "-fT", "--", from, to}, "link " + from + " to " + to);
  }

  Result<std::optional<FileStat>> stat(const std::string& path) override {
    // One line "TYPE SIZE MTIME.NS", or "absent".
    auto r = call({"sh", "-c",
                   "if [ -e \"$1\" ] || [ -L \"$1\" ]; then stat -L -c '%F|%s|%.9Y' -- \"$1\"; else echo absent; fi",
                   "sh", path});
    if (!r) return r.error();
    if (r->exitCode != 0) return failure("stat " + path, *r);
    std::string line = r->out.substr(0, r->out.find('\n'));
    if (line == "absent") return std::optional<FileStat>{};
    auto a = line.find('|'), b = line.rfind('|');
    if (a == std::string::npos || b == a)
      return makeError(host_.describe() + ": stat " + path + ": unexpected answer '" + line + "'");
    FileStat st;
    st.isDir = line.substr(0, a) == "directory";
    try {
      st.size = std::stoull(line.substr(a + 1, b - a - 1));
      std::string t = line.substr(b + 1);
      auto dot = t.find('.');
      int64_t secs = std::stoll(t.substr(0, dot));
      int64_t ns = 0;
      if (dot != std::string::npos) {
        std::string frac = t.substr(dot + 1);
        frac.resize(9, '0');
        ns = std::stoll(frac);
      }
      st.mtimeNs = secs * 1000000000LL + ns;
    } catch (const std::exception&) {
      return makeError(host_.describe() + ": stat " + path + ": unexpected answer '" + line + "'");
    }
    return std::optional<FileStat>(st);
  }

  Result<void> remove(const std::string& path) override {
    return step({"rm", "-f", "--", path}, "remove " + path);
  }

  Result<void> makeDirs(const std::string& path, unsigned mode) override {
    char m[8];
    std::snprintf(m, sizeof m, "%o", mode & 07777);
    return step({"mkdir", "-p", "-m", m, "--", path}, "mkdir " + path);
  }

  Result<std::vector<DirEntry>> listDir(const std::string& path) override {
    // NUL-separated "TYPE NAME" pairs; nothing when the directory does not exist.
    auto r = call({"sh", "-c",
                   "[ -d \"$1\" ] || exit 0; find \"$1\" -mindepth 1 -maxdepth 1 -printf '%y %f\\0'", "sh",
                   path});
    if (!r) return r.error();
    if (r->exitCode != 0) return failure("list " + path, *r);
    std::vector<DirEntry> out;
    const std::string& s = r->out;
    size_t i = 0;
    while (i < s.size()) {
      size_t end = s.find('\0', i);
      if (end == std::string::npos) end = s.size();
      if (end - i > 2 && s[i + 1] == ' ') out.push_back(DirEntry{s.substr(i + 2, end - i - 2), s[i] == 'd'});
      i = end + 1;
    }
    return out;
  }

  Result<CommandResult> run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) override {
    auto r = sessions_.exec(host_, argv, "", timeout);
    if (!r) return where(r.error());
    CommandResult c;
    c.exitCode = r->timedOut ? -1 : r->exitCode;
    c.timedOut = r->timedOut;
    c.out = std::move(r->out);
    c.err = std::move(r->err);
    return c;
  }

 private:
  Error where(Error e) const {
    if (e.message.rfind(host_.describe(), 0) != 0) e.message = host_.describe() + ": " + e.message;
    return e;
  }

  Result<CommandResult> call(const std::vector<std::string>& argv) { return run(argv, kFileOpTimeout); }

  Error failure(const std::string& what, const CommandResult& r) const {
    if (r.timedOut) return makeError(host_.describe() + ": " + what + ": timed out");
    std::string m = r.message();
    return makeError(host_.describe() + ": " + what + ": " + (m.empty() ? "exit " + std::to_string(r.exitCode) : m));
  }

  Result<void> step(const std::vector<std::string>& argv, const std::string& what) {
    auto r = call(argv);
    if (!r) return r.error();
    if (r->exitCode != 0) return failure(what, *r);
    return {};
  }

  HostSessions& sessions_;
  HostAddress host_;
};

}  // namespace

Result<HostAddress> parseSshEndpoint(const std::string& endpoint) {
  const std::string scheme = "ssh://";
  auto bad = [&](const std::string& why) {
    return makeError("bind9 endpoint '" + endpoint + "': " + why + " (expected ssh://user@host:port)", true);
  };
  if (endpoint.rfind(scheme, 0) != 0) return bad("not an ssh:// address");
  std::string rest = endpoint.substr(scheme.size());
  HostAddress a;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    a.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return bad("unclosed '['");
    a.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] == ':') port = rest.substr(1);
    else if (!rest.empty()) return bad("junk after the address");
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    a.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    a.host = rest;
  }
  if (a.host.empty()) return bad("no host");
  if (!port.empty()) {
    try {
      size_t used = 0;
      int p = std::stoi(port, &used);
      if (used != port.size() || p <= 0 || p > 65535) return bad("bad port");
      a.port = p;
    } catch (const std::exception&) {
      return bad("bad port");
    }
  }
  return a;
}

std::unique_ptr<HostIo> makeSessionsHostIo(HostSessions& sessions, HostAddress host) {
  return std::make_unique<SessionsHostIo>(sessions, std::move(host));
}

}  // namespace tend::bind9
