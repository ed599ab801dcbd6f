#include "daemon/server/host_sessions.h"

namespace tend::daemon {
namespace {

class NoSshSessions final : public HostSessions {
 public:
  Result<int> openStream(const HostAddress& host, const std::string&, std::chrono::steady_clock::time_point) override {
    return unavailable(host);
  }
  Result<HostCommandResult> exec(const HostAddress& host, const std::vector<std::string>&, const std::string&,
                                 std::chrono::milliseconds) override {
    return unavailable(host);
  }
  Result<std::optional<std::string>> readFile(const HostAddress& host, const std::string&) override {
    return unavailable(host);
  }
  Result<void> writeFile(const HostAddress& host, const std::string&, const std::string&, unsigned) override {
    return unavailable(host);
  }

 private:
  static Error unavailable(const HostAddress& host) {
    return makeError("no SSH session to " + host.describe() + ": SSH sessions are not built into this tend", true);
  }
};

}  // namespace

std::unique_ptr<HostSessions> makeDaemonHostSessions() { return std::make_unique<NoSshSessions>(); }

}  // namespace tend::daemon
