// The docker provider against a real dockerd (system daemon, or a private one for the
// daemon-outage test). Every run uses a unique environment label/name prefix and removes all
// it created (RAII), also on failure. Ports are published on 127.0.0.1 only.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "engine_fixture.h"

using namespace tend;
using namespace tend::dockertest;
using nlohmann::json;

namespace {

// The 3-container app of the scenarios: web (httpd on 127.0.0.1), worker, db with a volume.
std::vector<DesiredResource> app3(const Run& run, int port, const std::string& dbEnv = "1") {
  std::vector<DesiredResource> v;
  v.push_back(run.imageRes(run.image, "never"));
  v.push_back(run.network(run.env));
  v.push_back(run.volume(run.env, "data", true));
  v.push_back(run.container(run.env, "db",
                            {{"environment", {{"GEN", dbEnv}}},
                             {"volumes", {{{"type", "volume"}, {"source", run.env + "_data"}, {"target", "/data"}, {"read_only", false}}}}}));
  v.push_back(run.container(run.env, "worker", {{"environment", {{"ROLE", "worker"}}}}));
  v.push_back(run.container(run.env, "web",
                            {{"command", {"httpd", "-f", "-p", "80", "-h", "/www"}},
                             {"ports", {{{"host_ip", "127.0.0.1"}, {"published", port}, {"target", 80}, {"protocol", "tcp"}}}}}));
  return v;
}

int freePort() {
  // Derive from pid: tests of one run use distinct ports; loopback only.
  return 20000 + static_cast<int>(getpid() % 20000);
}

bool waitFor(const std::function<bool()>& f, int ms = 15000) {
  for (int i = 0; i < ms / 100; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return f();
}

// Drives passes until nothing changes (or n passes), like the engine's --once.
PassResult settle(Provider& p, const std::vector<DesiredResource>& d, const std::string& env, int n = 20) {
  PassResult r;
  for (int i = 0; i < n; ++i) {
    r = pass(p, d, env);
    bool progressing = false;
    for (auto& [id, a] : r.applies) progressing |= a.outcome == Outcome::Progressing;
    if (r.changed() == 0 && !progressing) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return r;
}

}  // namespace

TEST_CASE("first converge creates 3 containers, a network and a volume, then a no-op pass changes nothing",
          "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  int port = freePort();
  auto desired = app3(run, port);

  auto first = pass(*p, desired, run.env);
  for (auto& [id, a] : first.applies) {
    INFO(id << ": " << a.message);
    CHECK(a.outcome == Outcome::Ok);
  }
  CHECK(first.plans["container/" + run.env + "/web"].action == Action::Create);
  CHECK(first.plans["network/local/" + run.env].action == Action::Create);
  CHECK(first.plans["volume/local/" + run.env + "_data"].action == Action::Create);

  // Real objects with the ownership and compose labels.
  std::string web = run.env + "-web";
  CHECK(run.inspect(web, "{{.State.Status}}") == "running");
  CHECK(run.inspect(web, "{{index .Config.Labels \"io.tend.environment\"}}") == run.env);
  CHECK(run.inspect(web, "{{index .Config.Labels \"com.docker.compose.project\"}}") == run.env);
  CHECK(sh("docker network inspect -f '{{index .Labels \"io.tend.resource\"}}' " + run.env + "_default") ==
        "network/local/" + run.env);
  CHECK(run.inspect(run.env + "-db", "{{range .Mounts}}{{.Name}}{{end}}") == run.env + "_data");
  // The web container answers on loopback and the worker reaches it by alias on the app network.
  CHECK(waitFor([&] { return sh("curl -s --max-time 1 http://127.0.0.1:" + std::to_string(port) + "/").find("tend test page") != std::string::npos; }));
  CHECK(sh("docker exec " + run.env + "-worker wget -qO- http://web/ 2>&1").find("tend test page") != std::string::npos);

  std::map<std::string, std::string> ids, started;
  for (auto s : {"web", "worker", "db"}) {
    ids[s] = run.inspect(run.env + "-" + s, "{{.Id}}");
    started[s] = run.inspect(run.env + "-" + s, "{{.State.StartedAt}}");
  }

  auto second = pass(*p, desired, run.env);
  CHECK(second.changed() == 0);
  CHECK(second.applies.empty());
  for (auto& [id, o] : second.observed.observed) {
    INFO(id);
    CHECK(o.ready);
  }
  for (auto s : {"web", "worker", "db"}) {
    CHECK(run.inspect(run.env + "-" + s, "{{.Id}}") == ids[s]);
    CHECK(run.inspect(run.env + "-" + s, "{{.State.StartedAt}}") == started[s]);
  }

  SECTION("an environment change recreates exactly that container") {
    auto changed = app3(run, port, "2");
    auto r = pass(*p, changed, run.env);
    CHECK(r.changed() == 1);
    CHECK(r.plans["container/" + run.env + "/db"].action == Action::Replace);
    CHECK(r.applies["container/" + run.env + "/db"].outcome == Outcome::Ok);
    CHECK(run.inspect(run.env + "-db", "{{.Id}}") != ids["db"]);
    CHECK(run.inspect(run.env + "-db", "{{range .Config.Env}}{{println .}}{{end}}").find("GEN=2") != std::string::npos);
    CHECK(run.inspect(run.env + "-web", "{{.Id}}") == ids["web"]);
    CHECK(run.inspect(run.env + "-worker", "{{.Id}}") == ids["worker"]);
    CHECK(run.inspect(run.env + "-web", "{{.State.StartedAt}}") == started["web"]);
  }

  SECTION("a container killed outside tend is restarted as drift") {
    sh("docker kill " + run.env + "-worker >/dev/null");
    REQUIRE(waitFor([&] { return run.inspect(run.env + "-worker", "{{.State.Status}}") == "exited"; }));
    auto r = pass(*p, desired, run.env);
    auto& a = r.plans["container/" + run.env + "/worker"];
    CHECK(a.action == Action::Update);
    CHECK(a.drift);
    CHECK(r.changed() == 1);
    CHECK(run.inspect(run.env + "-worker", "{{.State.Status}}") == "running");
    CHECK(run.inspect(run.env + "-worker", "{{.Id}}") == ids["worker"]);  // started, not recreated
  }

  SECTION("a container removed outside tend is recreated") {
    sh("docker rm -f " + run.env + "-web >/dev/null");
    auto r = pass(*p, desired, run.env);
    CHECK(r.plans["container/" + run.env + "/web"].action == Action::Create);
    CHECK(r.changed() == 1);
    CHECK(run.inspect(run.env + "-web", "{{.State.Status}}") == "running");
  }

  SECTION("prune removes owned containers and the network; volumes only with prune_volumes") {
    // Keep only the image: everything else left the spec.
    std::vector<DesiredResource> only{desired[0]};
    auto r = pass(*p, only, run.env);
    for (auto s : {"web", "worker", "db"}) {
      CHECK(r.plans["container/" + run.env + "/" + s].action == Action::Delete);
      CHECK(run.inspect(run.env + "-" + s, "{{.Id}}").empty());
    }
    INFO(r.applies["network/local/" + run.env].message);
    CHECK(r.applies["network/local/" + run.env].outcome == Outcome::Ok);
    CHECK(sh("docker network ls -q --filter name=^" + run.env + "_default$").empty());
    // This volume was declared with prune_volumes: true.
    CHECK(sh("docker volume ls -q --filter name=^" + run.env + "_data$").empty());
  }
}

TEST_CASE("a no-op pass over running containers writes nothing, however long they have run",
          "[docker][integration]") {
  // Docker's list Status ages ("Up 1 second", "Up 3 seconds"): it is not the message, or every
  // pass of a running daemon would rewrite every container's record.
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  EngineRun er(run, *p, app3(run, freePort()));
  auto first = er.pass();
  REQUIRE(first.failed == 0);
  er.pass();  // the first observation after an apply replaces the apply's message
  auto web = er.status("container/" + run.env + "/web");
  CHECK(web.phase == "ready");
  CHECK(web.message == "running");
  int writes = er.store.resourceWrites();
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // the Status text changes
  auto second = er.pass();
  CHECK(second.changed == 0);
  CHECK(er.store.resourceWrites() == writes);
  CHECK(er.store.resources()["container/" + run.env + "/web"].message == "running");
}

TEST_CASE("volumes without prune_volumes survive prune", "[docker][integration]") {
  requireDockerd();
  Run run;
  auto p = makeTestProvider(run.env);
  std::vector<DesiredResource> d{run.volume(run.env, "keep", false)};
  auto r = pass(*p, d, run.env);
  REQUIRE(r.applies[d[0].id].outcome == Outcome::Ok);
  auto r2 = pass(*p, {}, run.env);
  CHECK(r2.plans[d[0].id].action == Action::Delete);
  CHECK(r2.applies[d[0].id].outcome == Outcome::Ok);
  CHECK(r2.applies[d[0].id].message.find("kept") != std::string::npos);
  CHECK(sh("docker volume ls -q --filter name=^" + run.env + "_keep$") == run.env + "_keep");
}

TEST_CASE("an unowned container holding the desired name is a conflict and is not touched",
          "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  std::string id = sh("docker run -d --name " + run.env + "-squat " + run.image + " sleep 3600");
  REQUIRE_FALSE(id.empty());
  auto p = makeTestProvider(run.env);
  std::vector<DesiredResource> d{run.container(run.env, "squat", json::object(), false)};
  auto r = pass(*p, d, run.env);
  auto& a = r.plans[d[0].id];
  CHECK(a.conflict);
  CHECK(a.reason.find("not owned") != std::string::npos);
  CHECK(r.applies[d[0].id].outcome == Outcome::Failed);
  CHECK(r.applies[d[0].id].terminal);
  CHECK(run.inspect(run.env + "-squat", "{{.Id}}") == id);
  CHECK(run.inspect(run.env + "-squat", "{{.State.Status}}") == "running");
}

TEST_CASE("images: present with pull never is ready, missing with never fails clearly, missing "
          "with missing reports the registry error",
          "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  std::vector<std::string> progress;
  auto present = run.imageRes(run.image, "never");
  auto absentNever = run.imageRes("tend-test/absent:" + run.env, "never");
  auto absentMissing = run.imageRes("127.0.0.1:9/tend-test/absent:" + run.env, "missing");
  auto r = pass(*p, {present, absentNever, absentMissing}, run.env);
  CHECK(r.plans[present.id].action == Action::Noop);
  CHECK(r.observed.observed[present.id].ready);
  CHECK(r.applies[absentNever.id].outcome == Outcome::Failed);
  CHECK(r.applies[absentNever.id].terminal);
  CHECK(r.applies[absentNever.id].message.find("pull is 'never'") != std::string::npos);
  CHECK(r.applies[absentMissing.id].outcome == Outcome::Failed);
  CHECK_FALSE(r.applies[absentMissing.id].terminal);
  INFO(r.applies[absentMissing.id].message);
  CHECK(r.applies[absentMissing.id].message.find("pull 127.0.0.1:9/tend-test/absent") != std::string::npos);
  // Second pass: the present image is still not pulled again.
  auto r2 = pass(*p, {present}, run.env);
  CHECK(r2.applies.empty());
}

TEST_CASE("an image ref is present by its tag or digest only, looked up one by one or listed",
          "[docker][integration]") {
  // Up to 8 distinct refs per host are looked up with an inspect each, more with one list:
  // both say the same. An image id (or its prefix) is not a ref, though inspect resolves it.
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  std::string id = sh("docker image inspect -f '{{.Id}}' " + run.image);
  REQUIRE(id.rfind("sha256:", 0) == 0);
  auto present = run.imageRes(run.image, "never");
  auto familiar = run.imageRes("docker.io/" + run.image, "never");  // the same ref, spelled out
  auto byId = run.imageRes(id.substr(7, 12), "never");
  for (int absent : {1, 8}) {
    INFO(absent << " absent refs");
    std::vector<DesiredResource> rs{present, familiar, byId};
    for (int i = 0; i < absent; ++i) rs.push_back(run.imageRes("tend-test/absent" + std::to_string(i) + ":" + run.env, "never"));
    auto r = pass(*p, rs, run.env, false);
    CHECK(r.observed.observed[present.id].ready);
    CHECK(r.observed.observed[present.id].state["image_id"] == id);
    CHECK(r.observed.observed[familiar.id].ready);
    CHECK_FALSE(r.observed.observed[byId.id].exists);
    for (size_t i = 3; i < rs.size(); ++i) {
      CHECK_FALSE(r.observed.observed[rs[i].id].exists);
      CHECK(r.observed.observed[rs[i].id].message == "not present");
    }
  }
}

TEST_CASE("healthchecked containers report not ready until healthy, and dependents wait",
          "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  auto db = run.container(run.env, "db",
                          {{"healthcheck", {{"test", {"CMD-SHELL", "test -f /tmp/ok"}}, {"interval_s", 1}, {"timeout_s", 1}, {"retries", 30}, {"start_period_s", 0}}},
                           {"command", {"sh", "-c", "sleep 2; touch /tmp/ok; sleep 3600"}}},
                          false);
  auto r = pass(*p, {db}, run.env);
  REQUIRE(r.applies[db.id].outcome == Outcome::Progressing);
  CHECK(r.applies[db.id].requeueAfter.has_value());
  auto r2 = pass(*p, {db}, run.env);
  // Still starting: observe says not ready (the engine keeps dependents pending).
  CHECK_FALSE(r2.observed.observed[db.id].ready);
  CHECK(r2.plans[db.id].action == Action::Noop);
  CHECK(r2.applies[db.id].outcome == Outcome::Progressing);
  REQUIRE(waitFor([&] { return run.inspect(run.env + "-db", "{{.State.Health.Status}}") == "healthy"; }, 20000));
  auto r3 = pass(*p, {db}, run.env);
  CHECK(r3.observed.observed[db.id].ready);
  CHECK(r3.applies.empty());
}

TEST_CASE("secrets reach the container environment but not messages", "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  struct S final : SecretResolver {
    std::vector<std::string> names() const override { return {"pw"}; }
    Result<SecretString> get(const std::string&) const override { return SecretString("s3cr3t-value"); }
  } secrets;
  auto p = makeTestProvider(run.env);
  auto c = run.container(run.env, "sec", {{"environment", {{"PW", "${secret:pw}"}}}}, false);
  auto r = pass(*p, {c}, run.env, true, &secrets);
  REQUIRE(r.applies[c.id].outcome == Outcome::Ok);
  CHECK(r.applies[c.id].message.find("s3cr3t") == std::string::npos);
  CHECK(run.inspect(run.env + "-sec", "{{range .Config.Env}}{{println .}}{{end}}").find("PW=s3cr3t-value") != std::string::npos);
  // The hash covers the symbolic form: the next pass is a no-op.
  CHECK(pass(*p, {c}, run.env, true, &secrets).changed() == 0);
}

TEST_CASE("a compose-shaped app with 5 services converges and is visible to docker-compose",
          "[docker][integration]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  auto p = makeTestProvider(run.env);
  int port = freePort() + 1;
  std::vector<DesiredResource> d{run.network(run.env), run.volume(run.env, "cache", true)};
  d.push_back(run.container(run.env, "db", {{"healthcheck", {{"test", {"CMD", "true"}}, {"interval_s", 1}, {"timeout_s", 1}, {"retries", 3}, {"start_period_s", 0}}}}));
  d.push_back(run.container(run.env, "cache", {{"volumes", {{{"type", "volume"}, {"source", run.env + "_cache"}, {"target", "/data"}, {"read_only", false}}}}}));
  auto api = run.container(run.env, "api", {{"depends_on", {{"db", {{"condition", "service_healthy"}, {"id", "container/" + run.env + "/db"}}}}},
                                            {"environment", {{"DB_HOST", "db"}}}, {"restart", "unless-stopped"}});
  api.dependsOn.push_back("container/" + run.env + "/db");
  d.push_back(api);
  d.push_back(run.container(run.env, "web", {{"command", {"httpd", "-f", "-p", "80", "-h", "/www"}},
                                             {"ports", {{{"host_ip", "127.0.0.1"}, {"published", port}, {"target", 80}, {"protocol", "tcp"}}}}}));
  d.push_back(run.container(run.env, "cron", {{"user", "nobody"}, {"working_dir", "/tmp"}, {"extra_hosts", {"gw:127.0.0.1"}},
                                              {"logging", {{"driver", "json-file"}, {"options", {{"max-size", "1m"}}}}}}));
  auto r = settle(*p, d, run.env);
  CHECK(r.changed() == 0);
  for (auto& [id, o] : r.observed.observed) {
    INFO(id << " " << o.message);
    CHECK(o.ready);
  }
  CHECK(sh("docker ps -q --filter label=com.docker.compose.project=" + run.env + " | wc -l") == "5");
  CHECK(run.inspect(run.env + "-cron", "{{.Config.User}} {{.Config.WorkingDir}}") == "nobody /tmp");
  CHECK(run.inspect(run.env + "-cron", "{{index .HostConfig.LogConfig.Config \"max-size\"}}") == "1m");
  // docker-compose (v1) finds the services through the compose labels.
  std::string dir = "/tmp/" + run.env + "-compose";
  sh("mkdir -p " + dir);
  std::ofstream(dir + "/docker-compose.yml") << "version: '2.4'\nservices:\n  db: {image: x}\n  cache: {image: x}\n  api: {image: x}\n  web: {image: x}\n  cron: {image: x}\n";
  std::string ps = sh("cd " + dir + " && docker-compose -p " + run.env + " ps --services --filter status=running 2>/dev/null | sort | tr '\\n' ' '");
  CHECK(ps == "api cache cron db web ");
  sh("rm -rf " + dir);
}

TEST_CASE("dockerd stopped mid-pass: resources fail with the reason, the process survives, "
          "recovery after restart",
          "[docker][integration]") {
  tend::testing::requirePrograms({"dockerd", "docker", "ip"});
  std::string base = "/tmp/tdd-" + uniquePrefix();
  std::string sock = base + ".sock";
  // Its own bridge (on an address of this machine only): `--bridge=none` made the second daemon
  // delete the shared docker0.
  std::string bridge = "tdbr" + base.substr(base.size() - 8);
  sh("ip link add name " + bridge + " type bridge && ip addr add 172.31.254.1/24 dev " + bridge +
     " && ip link set " + bridge + " up");
  std::string args = "--data-root " + base + "/data --exec-root " + base + "/exec --pidfile " + base +
                     "/dockerd.pid -H unix://" + sock + " --bridge=" + bridge +
                     " --iptables=false --ip6tables=false --ip-masq=false";
  auto start = [&] {
    sh("mkdir -p " + base + " && nohup dockerd " + args + " >>" + base + "/dockerd.log 2>&1 </dev/null &");
    return waitFor([&] { int rc = 1; sh("docker -H unix://" + sock + " info >/dev/null 2>&1", &rc); return rc == 0; }, 60000);
  };
  auto stop = [&] {
    std::string pid = sh("cat " + base + "/dockerd.pid 2>/dev/null");
    if (!pid.empty()) ::kill(std::stoi(pid), SIGTERM);
    waitFor([&] { return sh("cat " + base + "/dockerd.pid 2>/dev/null").empty(); }, 30000);
  };
  struct Guard {
    std::function<void()> f;
    ~Guard() { f(); }
  } guard{[&] {
    sh("docker -H unix://" + sock + " ps -aq | xargs -r docker -H unix://" + sock + " rm -f >/dev/null 2>&1");
    stop();
    sh("umount " + base + "/exec/*/* 2>/dev/null; umount -R " + base + "/data/overlay2/*/merged 2>/dev/null; rm -rf " + base + " " + sock);
    sh("ip link del " + bridge + " 2>/dev/null");
  }};
  REQUIRE(start());
  Run run(sock);
  REQUIRE(makeImage(run.image, sock));
  auto p = makeTestProvider(run.env);
  auto c = run.container(run.env, "svc", {{"network_mode", "none"}, {"networks", json::object()}}, false);
  auto c2 = run.container(run.env, "svc2", {{"network_mode", "none"}, {"networks", json::object()}}, false);

  // Mid-pass: observation succeeded, then the daemon goes away before apply.
  ObserveRequest oreq;
  oreq.desired = {&c};
  oreq.ctx.environment = run.env;
  auto obs = p->observe(oreq);
  REQUIRE(obs.errors.empty());
  auto a = p->plan({&c, nullptr});
  REQUIRE(a.action == Action::Create);
  stop();
  ApplyRequest ar{a, &c, nullptr, {}};
  ar.ctx.environment = run.env;
  auto res = p->apply(ar);
  CHECK(res.outcome == Outcome::Failed);
  CHECK_FALSE(res.terminal);
  INFO(res.message);
  CHECK(res.message.find("unix:" + sock) != std::string::npos);  // names the unreachable daemon
  // The next observation reports every resource failed with the reason.
  auto down = pass(*p, {c, c2}, run.env);
  REQUIRE(down.observed.errors.size() == 2);
  CHECK(down.observed.errors[c.id].message.find("unix:" + sock) != std::string::npos);

  REQUIRE(start());
  auto up = settle(*p, {c, c2}, run.env);
  CHECK(up.observed.errors.empty());
  CHECK(up.changed() == 0);
  CHECK(run.inspect(run.env + "-svc", "{{.State.Status}}") == "running");
  CHECK(run.inspect(run.env + "-svc2", "{{.State.Status}}") == "running");
  run.cleanup();
}
