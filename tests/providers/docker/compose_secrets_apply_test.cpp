// Compose secrets and configs against the real dockerd: each lands where Compose puts it, read-
// only (a bind of the provider's state directory, or a copy when the engine cannot see that
// directory), with its mode and owner; a changed value recreates the container; a value never
// reaches the payload, a message or the container's labels; deleting the container removes
// its files.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/spec.h"
#include "engine_fixture.h"
#include "providers/docker/docker_provider.h"

namespace tend::dockertest {
namespace {

struct TempDir {
  std::string path;
  explicit TempDir(const char* what) {
    std::string t = (std::filesystem::temp_directory_path() / (std::string("tend-") + what + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path + "/" + name).parent_path());
    std::ofstream(path + "/" + name) << text;
  }
};

std::vector<DesiredResource> load(const TempDir& d, const Run& run) {
  LoadOptions opts;
  ProviderRegistry reg;
  reg.add(docker::registration());
  opts.providers = &reg;
  LoadResult r = loadSpecDir(d.path, opts);
  std::string errs;
  for (const auto& x : r.diagnostics) errs += x.str() + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  std::vector<DesiredResource> out;
  for (const auto& res : r.graph->resources) {
    if (res.provider != "docker") continue;
    DesiredResource x = res;
    x.spec["endpoint"] = run.endpoint;
    x.spec["environment"] = run.env;
    x.host = "local";
    x.dependsOn.clear();
    x.hash = sha256Hex(x.spec.dump());
    out.push_back(std::move(x));
  }
  return out;
}

void writeApp(const TempDir& d, const Run& run) {
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  " + run.env + ": { host: h, compose: app/compose.yaml }\n");
  d.write("app/db_password.txt", "pw-from-file-" + run.env);
  d.write("app/app.conf", "listen 8080\n");
  d.write("app/compose.yaml", "services:\n  main:\n    image: " + run.image + R"(
    command: [sleep, "3600"]
    secrets:
      - db_password
      - source: token
        target: api_token
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - app_conf
      - source: greeting
        target: /etc/greeting.txt
        mode: 0640
secrets:
  db_password: { file: ./db_password.txt }
  token: { environment: TEND_DOCKER_SECRETS_TEST_TOKEN }
configs:
  app_conf: { file: ./app.conf }
  greeting: { content: "hello from tend" }
)");
}

void requireAllOk(const PassResult& res) {
  for (auto& [id, a] : res.applies) {
    INFO(id << ": " << a.message);
    CHECK(a.outcome == Outcome::Ok);
  }
}

}  // namespace

TEST_CASE("compose secrets and configs are bind-mounted read-only where Compose puts them, values kept out of "
          "payloads and labels", "[docker][integration][compose][secrets]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  TempDir d("compose-secrets"), state("docker-state");
  const std::string token = "token-from-env-" + run.env;
  ::setenv("TEND_DOCKER_SECRETS_TEST_TOKEN", token.c_str(), 1);
  writeApp(d, run);
  auto desired = load(d, run);
  for (const auto& x : desired) {
    CHECK(x.spec.dump().find("pw-from-file") == std::string::npos);
    CHECK(x.spec.dump().find(token) == std::string::npos);
  }
  auto p = makeTestProvider(run.env, state.path);
  auto res = pass(*p, desired, run.env, false);
  requireAllOk(res);
  std::string c = run.env + "-main";
  CHECK(sh("docker exec " + c + " cat /run/secrets/db_password") == "pw-from-file-" + run.env);
  CHECK(sh("docker exec " + c + " cat /run/secrets/api_token") == token);
  CHECK(sh("docker exec " + c + " cat /app_conf") == "listen 8080");
  CHECK(sh("docker exec " + c + " cat /etc/greeting.txt") == "hello from tend");
  CHECK(sh("docker exec " + c + " stat -c '%a' /run/secrets/db_password /app_conf /etc/greeting.txt") ==
        "444\n444\n640");
  if (::geteuid() == 0)  // only root may give a file another owner
    CHECK(sh("docker exec " + c + " stat -c '%a %u %g' /run/secrets/api_token") == "400 1000 1001");
  // Read-only mounts at Compose's places, from the provider's state directory.
  std::string mounts = run.inspect(c, "{{range .Mounts}}{{.Destination}}={{.RW}}@{{.Source}} {{end}}");
  for (const char* dest : {"/run/secrets/db_password=false@", "/run/secrets/api_token=false@", "/app_conf=false@",
                           "/etc/greeting.txt=false@"})
    CHECK(mounts.find(dest) != std::string::npos);
  CHECK(mounts.find(state.path + "/files/" + c + "/") != std::string::npos);
  CHECK(sh("docker exec " + c + " sh -c 'echo x > /run/secrets/db_password' 2>&1; echo rc=$?").find("rc=0") ==
        std::string::npos);
  // Labels carry only the keyed digest.
  std::string labels = run.inspect(c, "{{json .Config.Labels}}");
  CHECK(labels.find("pw-from-file") == std::string::npos);
  CHECK(labels.find(token) == std::string::npos);
  std::string id1 = run.inspect(c, "{{.Id}}");

  SECTION("a pass with nothing changed does nothing") {
    CHECK(pass(*p, desired, run.env, false).changed() == 0);
    CHECK(run.inspect(c, "{{.Id}}") == id1);
  }
  SECTION("a changed file recreates the container with the new value") {
    d.write("app/db_password.txt", "rotated-" + run.env);
    auto again = load(d, run);
    REQUIRE(again.size() == desired.size());  // the payload did not change: only the value did
    for (size_t i = 0; i < again.size(); ++i) CHECK(again[i].hash == desired[i].hash);
    auto res2 = pass(*p, again, run.env, false);
    requireAllOk(res2);
    for (auto& [id, a] : res2.applies) CHECK(a.message.find("rotated-") == std::string::npos);
    CHECK(run.inspect(c, "{{.Id}}") != id1);
    CHECK(sh("docker exec " + c + " cat /run/secrets/db_password") == "rotated-" + run.env);
    CHECK(pass(*p, again, run.env, false).changed() == 0);
  }
  SECTION("a changed environment value recreates the container") {
    ::setenv("TEND_DOCKER_SECRETS_TEST_TOKEN", "second-token", 1);
    auto res2 = pass(*p, desired, run.env, false);
    requireAllOk(res2);
    CHECK(sh("docker exec " + c + " cat /run/secrets/api_token") == "second-token");
  }
  SECTION("an unset environment source fails the container, naming the variable and not a value") {
    ::unsetenv("TEND_DOCKER_SECRETS_TEST_TOKEN");
    d.write("app/db_password.txt", "changed-again");
    auto res2 = pass(*p, load(d, run), run.env, false);
    REQUIRE(res2.applies.count("container/" + run.env + "/main"));
    const auto& a = res2.applies.at("container/" + run.env + "/main");
    CHECK(a.outcome == Outcome::Failed);
    CHECK(a.message.find("TEND_DOCKER_SECRETS_TEST_TOKEN") != std::string::npos);
    CHECK(a.message.find("changed-again") == std::string::npos);
    CHECK(run.inspect(c, "{{.Id}}") == id1);  // the running container was left as it was
  }
  SECTION("deleting the container removes its files") {
    CHECK(std::filesystem::exists(state.path + "/files/" + c));
    auto res2 = pass(*p, {}, run.env, true);
    requireAllOk(res2);
    CHECK_FALSE(std::filesystem::exists(state.path + "/files/" + c));
  }
  ::unsetenv("TEND_DOCKER_SECRETS_TEST_TOKEN");
}

TEST_CASE("without a state directory on the engine's machine, secrets and configs are copied into the container",
          "[docker][integration][compose][secrets]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  TempDir d("compose-secrets-copy");
  ::setenv("TEND_DOCKER_SECRETS_TEST_TOKEN", "copied-token", 1);
  writeApp(d, run);
  auto desired = load(d, run);
  auto p = makeTestProvider(run.env, "");  // no state directory: the engine cannot see tend's files
  requireAllOk(pass(*p, desired, run.env, false));
  std::string c = run.env + "-main";
  CHECK(sh("docker exec " + c + " cat /run/secrets/db_password") == "pw-from-file-" + run.env);
  CHECK(sh("docker exec " + c + " cat /run/secrets/api_token") == "copied-token");
  CHECK(sh("docker exec " + c + " cat /etc/greeting.txt") == "hello from tend");
  CHECK(sh("docker exec " + c + " stat -c '%a %u %g' /run/secrets/api_token /etc/greeting.txt") ==
        "400 1000 1001\n640 0 0");
  CHECK(run.inspect(c, "{{len .Mounts}}") == "0");
  CHECK(pass(*p, desired, run.env, false).changed() == 0);
  ::unsetenv("TEND_DOCKER_SECRETS_TEST_TOKEN");
}

}  // namespace tend::dockertest
