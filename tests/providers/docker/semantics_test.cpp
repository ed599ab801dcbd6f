// depends_on conditions through the real engine, and secret rotation, against a real dockerd.
// Unique environment per run; everything removed afterwards (Run's RAII cleanup).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "engine_fixture.h"

using namespace tend;
using namespace tend::dockertest;
using nlohmann::json;
using Clk = std::chrono::steady_clock;

namespace {

json dependsOn(const std::string& app, const std::string& svc, const std::string& condition) {
  return {{svc, {{"condition", condition}, {"id", "container/" + app + "/" + svc}}}};
}

// A secret source the test can rotate (the role SOPS plays in tendd).
struct RotatingSecrets final : SecretResolver {
  mutable std::mutex mu;
  std::string value;
  std::vector<std::string> names() const override { return {"db_password"}; }
  Result<SecretString> get(const std::string& name) const override {
    if (name != "db_password") return makeError("no secret '" + name + "'", true);
    std::lock_guard lk(mu);
    return SecretString(value);
  }
  void set(std::string v) {
    std::lock_guard lk(mu);
    value = std::move(v);
  }
};

bool mentions(const PassResult& r, const std::string& s) {
  for (auto& [id, a] : r.plans)
    if (a.reason.find(s) != std::string::npos || a.diff.dump().find(s) != std::string::npos) return true;
  for (auto& [id, a] : r.applies)
    if (a.message.find(s) != std::string::npos || a.privateData.dump().find(s) != std::string::npos)
      return true;
  for (auto& [id, o] : r.observed.observed)
    if (o.message.find(s) != std::string::npos || o.state.dump().find(s) != std::string::npos ||
        o.appliedHash.find(s) != std::string::npos)
      return true;
  return false;
}

}  // namespace

TEST_CASE("depends_on service_started waits for running only, service_healthy waits for healthy "
          "(real engine, real dockerd)",
          "[docker][integration][depends_on]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  const std::string app = run.env;
  // db turns healthy only after 5 s: plenty of time to see who starts while it is "starting".
  auto db = run.container(app, "db",
                          {{"healthcheck", {{"test", {"CMD-SHELL", "test -f /tmp/ok"}}, {"interval_s", 1},
                                            {"timeout_s", 1}, {"retries", 60}, {"start_period_s", 0}}},
                           {"command", {"sh", "-c", "sleep 5; touch /tmp/ok; sleep 3600"}}},
                          false);
  auto started = run.container(app, "started", {{"depends_on", dependsOn(app, "db", "service_started")}}, false);
  started.dependsOn.push_back(db.id);
  started = run.finish(started);
  auto healthy = run.container(app, "healthy", {{"depends_on", dependsOn(app, "db", "service_healthy")}}, false);
  healthy.dependsOn.push_back(db.id);
  healthy = run.finish(healthy);

  EngineRun er(run, *p, {db, started, healthy}, 8, std::chrono::milliseconds(60000));

  RunResult result;
  std::atomic<bool> done{false};
  std::thread t([&] {
    result = er.pass();
    done = true;
  });
  // Poll: when does each dependent first run, and what was db's health then?
  std::string dbHealthWhenStarted, dbHealthWhenHealthy;
  auto t0 = Clk::now();
  while (!done && Clk::now() - t0 < std::chrono::seconds(60)) {
    std::string h = run.inspect(app + "-db", "{{if .State.Health}}{{.State.Health.Status}}{{end}}");
    if (dbHealthWhenStarted.empty() && run.inspect(app + "-started", "{{.State.Running}}") == "true")
      dbHealthWhenStarted = h.empty() ? "?" : h;
    if (dbHealthWhenHealthy.empty() && run.inspect(app + "-healthy", "{{.State.Running}}") == "true")
      dbHealthWhenHealthy = h.empty() ? "?" : h;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  t.join();
  CHECK(result.result == "success");
  // service_started: running while db was still starting its health check.
  CHECK(dbHealthWhenStarted == "starting");
  // service_healthy: created only once db was healthy (the health check needs >= 5 s).
  CHECK(dbHealthWhenHealthy == "healthy");
  CHECK(run.inspect(app + "-db", "{{.State.Health.Status}}") == "healthy");
  // The dependency itself stays progressing until healthy: the run ended with it ready.
  for (auto& s : er.engine->status()) CHECK(s.phase == "ready");
  CHECK(p->startedSuffices(started, db.id));
  CHECK_FALSE(p->startedSuffices(healthy, db.id));
}

TEST_CASE("a rotated secret recreates the container, and the label carries only a keyed digest",
          "[docker][integration][secrets]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  std::string stateDir = "/tmp/" + run.env + "-state";
  struct Rm {
    std::string d;
    ~Rm() { std::filesystem::remove_all(d); }
  } rm{stateDir};
  RotatingSecrets secrets;
  const std::string v1 = "first-Secret-Value-91823", v2 = "second-Secret-Value-55120";
  secrets.set(v1);
  auto p = makeTestProvider(run.env, stateDir);
  auto c = run.container(run.env, "sec", {{"environment", {{"PW", "${secret:db_password}"}, {"X", "1"}}}}, false);
  auto plain = run.container(run.env, "plain", {{"environment", {{"X", "1"}}}}, false);
  std::vector<DesiredResource> d{c, plain};
  auto envOf = [&](const std::string& n) {
    return run.inspect(run.env + "-" + n, "{{range .Config.Env}}{{println .}}{{end}}");
  };
  auto labels = [&](const std::string& n) { return run.inspect(run.env + "-" + n, "{{json .Config.Labels}}"); };
  auto idOf = [&](const std::string& n) { return run.inspect(run.env + "-" + n, "{{.Id}}"); };

  auto r1 = pass(*p, d, run.env, true, &secrets);
  REQUIRE(r1.applies[c.id].outcome == Outcome::Ok);
  CHECK(envOf("sec").find("PW=" + v1) != std::string::npos);
  std::string id1 = idOf("sec"), plainId = idOf("plain");
  auto lab = json::parse(labels("sec"));
  std::string h1 = lab["io.tend.spec-hash"];
  CHECK(h1 != c.hash);  // the keyed digest, not the plain spec hash
  CHECK(json::parse(labels("plain"))["io.tend.spec-hash"] == plain.hash);
  CHECK(labels("sec").find(v1) == std::string::npos);
  CHECK(std::filesystem::file_size(stateDir + "/label-hmac.key") == 32);
  CHECK((std::filesystem::status(stateDir + "/label-hmac.key").permissions() &
         std::filesystem::perms::all) == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));

  // Unchanged secret: no-op, also for a new provider instance (the key persists).
  auto r2 = pass(*p, d, run.env, true, &secrets);
  CHECK(r2.changed() == 0);
  CHECK(r2.observed.observed[c.id].ready);
  auto p2 = makeTestProvider(run.env, stateDir);
  CHECK(pass(*p2, d, run.env, true, &secrets).changed() == 0);

  // Rotate: same spec text, new value -> exactly that container is recreated.
  secrets.set(v2);
  auto r3 = pass(*p2, d, run.env, true, &secrets);
  CHECK(r3.plans[c.id].action == Action::Replace);
  CHECK(r3.plans[c.id].reason == "a secret it uses changed");
  CHECK(r3.plans[plain.id].action == Action::Noop);
  REQUIRE(r3.applies[c.id].outcome == Outcome::Ok);
  CHECK(idOf("sec") != id1);
  CHECK(idOf("plain") == plainId);
  CHECK(envOf("sec").find("PW=" + v2) != std::string::npos);
  std::string h2 = json::parse(labels("sec"))["io.tend.spec-hash"];
  CHECK(h2 != h1);
  CHECK(labels("sec").find(v2) == std::string::npos);
  CHECK(pass(*p2, d, run.env, true, &secrets).changed() == 0);

  // No value in any message, plan, diff, observed state or label.
  for (auto* r : {&r1, &r2, &r3}) {
    CHECK_FALSE(mentions(*r, v1));
    CHECK_FALSE(mentions(*r, v2));
  }
  // The digest is keyed: the same spec and value under another key gives another label.
  auto p3 = makeTestProvider(run.env, stateDir + "-other");
  std::filesystem::remove_all(stateDir + "-other");
  auto r4 = pass(*p3, d, run.env, true, &secrets);
  CHECK(r4.plans[c.id].action == Action::Replace);
  std::filesystem::remove_all(stateDir + "-other");
  // Without a state dir the key is random per process, never derived from the environment
  // name: a stateless provider cannot reproduce the stored digest either.
  auto p4 = makeTestProvider(run.env, "");
  CHECK(pass(*p4, d, run.env, false, &secrets).plans[c.id].action == Action::Replace);
}
