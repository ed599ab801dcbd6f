// The daemon owns one registry of host sessions and hands it to every provider it builds
// (ProviderConfig::hostSessions); before providers.ssh configures it, it answers per host, clearly.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
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

namespace {
// Records what prefetch() was handed.
class PrefetchRecorder final : public testing::MemoryProvider {
 public:
  explicit PrefetchRecorder(std::string name, std::vector<std::vector<std::string>>* calls)
      : MemoryProvider(std::move(name), std::vector<std::string>{"thing"}), calls_(calls) {}
  void prefetch(const std::vector<const DesiredResource*>& desired) override {
    std::vector<std::string> ids;
    for (auto* d : desired) ids.push_back(d->id);
    calls_->push_back(std::move(ids));
  }

 private:
  std::vector<std::vector<std::string>>* calls_;
};
}  // namespace

TEST_CASE("a prefetch reaches each configured provider once with its own resources only",
          "[daemon][providers]") {
  std::map<std::string, std::vector<std::vector<std::string>>> calls;
  ProviderRegistry reg;
  for (const char* name : {"one", "two", "idle"})
    reg.registerFactory(name, [&calls, name](const ProviderConfig&) -> Result<std::unique_ptr<Provider>> {
      return std::unique_ptr<Provider>(std::make_unique<PrefetchRecorder>(name, &calls[name]));
    });
  std::string dir = (std::filesystem::temp_directory_path() / "tend-prefetch-XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  ProviderSet set(reg, dir, nullptr);
  DesiredGraph g;
  for (const char* name : {"one", "two", "idle"}) g.providerConfigs[name] = nlohmann::json::object();
  auto add = [&](const char* provider, const char* id) {
    DesiredResource r;
    r.id = id;
    r.kind = "thing";
    r.provider = provider;
    g.resources.push_back(r);
  };
  add("one", "thing/a");
  add("two", "thing/b");
  add("one", "thing/c");
  add("nobody", "thing/d");  // a provider the spec does not configure: nothing to call
  set.update(g);
  set.prefetch(g);
  CHECK(calls["one"] == std::vector<std::vector<std::string>>{{"thing/a", "thing/c"}});
  CHECK(calls["two"] == std::vector<std::vector<std::string>>{{"thing/b"}});
  CHECK(calls["idle"].empty());  // configured, but no resource of its own
  CHECK(calls.count("nobody") == 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
