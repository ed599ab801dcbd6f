// The daemon owns one registry of host sessions and hands it to every provider it builds
// (ProviderConfig::hostSessions); before providers.ssh configures it, it answers per host, clearly.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <vector>

#include "daemon/server/host_sessions.h"
#include "daemon/server/provider_set.h"
#include "tests/support/memory_provider.h"

using namespace tend;
using namespace tend::daemon;

TEST_CASE("every provider the daemon builds gets the daemon's host sessions", "[daemon][sessions]") {
  auto sessions = makeDaemonHostSessions();
  std::vector<HostSessions*> seen;
  ProviderRegistry reg;
  for (const char* name : {"one", "two"})
    reg.registerFactory(name, [&seen, name](const ProviderConfig& cfg) -> Result<std::unique_ptr<Provider>> {
      seen.push_back(cfg.hostSessions);
      return std::unique_ptr<Provider>(std::make_unique<testing::MemoryProvider>(name, std::vector<std::string>{"thing"}));
    });
  std::string dir = (std::filesystem::temp_directory_path() / "tend-sessions-XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  ProviderSet set(reg, dir, sessions.get());
  DesiredGraph g;
  g.providerConfigs["one"] = nlohmann::json::object();
  g.providerConfigs["two"] = nlohmann::json::object();
  set.update(g);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == sessions.get());
  CHECK(seen[1] == sessions.get());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_CASE("without providers.ssh the daemon's sessions fail naming the host", "[daemon][sessions]") {
  auto sessions = makeDaemonHostSessions();
  HostAddress h{"admin", "10.2.20.60", 2222};
  auto s = sessions->openStream(h, "/var/run/docker.sock", std::chrono::steady_clock::now());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "no SSH session to ssh://admin@10.2.20.60:2222: providers.ssh is not configured");
  CHECK(s.error().terminal);
  CHECK_FALSE(sessions->exec(h, {"true"}, "", std::chrono::seconds(1)).ok());
  CHECK_FALSE(sessions->readFile(h, "/etc/hostname").ok());
  CHECK_FALSE(sessions->writeFile(h, "/tmp/x", "x", 0600).ok());
}
