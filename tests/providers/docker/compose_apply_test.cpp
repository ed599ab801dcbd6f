// Compose keys that tend applies reach the container: a Compose file using them is loaded as
// a spec, its resources applied to the real dockerd, and `docker inspect` shows each key.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/spec.h"
#include "engine_fixture.h"
#include "providers/docker/docker_provider.h"

namespace tend::dockertest {
namespace {

struct SpecDir {
  std::string path;
  SpecDir() {
    std::string t = (std::filesystem::temp_directory_path() / "tend-compose-apply-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~SpecDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path + "/" + name).parent_path());
    std::ofstream(path + "/" + name) << text;
  }
};

// The spec's docker resources, pointed at the test daemon and environment.
std::vector<DesiredResource> dockerResources(const LoadResult& r, const Run& run) {
  std::vector<DesiredResource> out;
  for (const auto& res : r.graph->resources) {
    if (res.provider != "docker") continue;
    DesiredResource d = res;
    d.spec["endpoint"] = run.endpoint;
    d.spec["environment"] = run.env;
    d.host = "local";
    d.dependsOn.clear();
    d.hash = sha256Hex(d.spec.dump());
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

TEST_CASE("compose keys tend applies show in docker inspect", "[docker][integration][compose]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  SpecDir d;
  const std::string app = run.env;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  " + app + ": { host: h, compose: app/compose.yaml }\n");
  d.write("app/.env", "IMAGE=" + run.image + "\nMEM=96m\n");
  d.write("app/labels.env", "from.label.file=yes\n");
  d.write("app/compose.yaml", R"(services:
  main:
    image: ${IMAGE}
    command: [sleep, "3600"]
    mem_limit: ${MEM}
    memswap_limit: 192m
    mem_reservation: 32m
    cpus: 0.5
    cpu_shares: 512
    pids_limit: 200
    oom_score_adj: 300
    ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 512 }
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    security_opt: ["no-new-privileges:true"]
    read_only: true
    tmpfs: ["/run:size=8m"]
    volumes:
      - type: tmpfs
        target: /scratch
        tmpfs: { size: 16m, mode: 1777 }
      - data:/data:nocopy
      - ./conf:/conf:ro,z
    sysctls: { net.ipv4.ip_unprivileged_port_start: "80" }
    dns: [127.0.0.53]
    dns_search: [example.test]
    dns_opt: [ndots:2]
    group_add: ["1234"]
    tty: true
    stdin_open: true
    stop_signal: SIGUSR1
    expose: ["7000"]
    domainname: example.test
    hostname: mainhost
    init: true
    ipc: shareable
    label_file: ./labels.env
    labels: { team: ops }
    networks:
      back:
        ipv4_address: 172.16.99.10
        aliases: [m1]
  side:
    image: ${IMAGE}
    command: [sleep, "3600"]
    deploy: { resources: { limits: { memory: 48m, cpus: "0.25", pids: 50 } }, restart_policy: { condition: on-failure, max_attempts: 2 } }
    volumes_from: ["main:ro"]
    ipc: "service:main"
    links: ["main:mainalias"]
    depends_on: [main]
    networks: [back]
networks:
  back:
    labels: { net.label: "1" }
    driver_opts: { com.docker.network.bridge.enable_icc: "true" }
    ipam: { config: [{ subnet: 172.16.99.0/24 }] }
volumes:
  data:
    labels: { vol.label: "1" }
)");
  LoadOptions opts;
  ProviderRegistry reg;
  reg.add(docker::registration());
  opts.providers = &reg;
  LoadResult r = loadSpecDir(d.path, opts);
  std::string errs;
  for (const auto& x : r.diagnostics) errs += x.str() + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  auto desired = dockerResources(r, run);
  auto p = makeTestProvider(run.env);
  auto res = pass(*p, desired, run.env, false);
  for (auto& [id, a] : res.applies) {
    INFO(id << ": " << a.message);
    CHECK(a.outcome == Outcome::Ok);
  }
  std::string main = app + "-main", side = app + "-side";
  CHECK(run.inspect(main, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}") ==
        "100663296 201326592 33554432");
  CHECK(run.inspect(main, "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.OomScoreAdj}}") ==
        "500000000 512 200 300");
  CHECK(run.inspect(main, "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}} {{end}}") == "nofile=1024:2048 nproc=512:512 ");
  CHECK(run.inspect(main, "{{.HostConfig.CapAdd}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}") ==
        "[NET_ADMIN] [MKNOD] [no-new-privileges:true]");
  CHECK(run.inspect(main, "{{.HostConfig.ReadonlyRootfs}} {{index .HostConfig.Tmpfs \"/run\"}} {{index .HostConfig.Tmpfs \"/scratch\"}}") ==
        "true size=8m size=16777216,mode=1777");
  CHECK(run.inspect(main, "{{range .HostConfig.Binds}}{{.}} {{end}}").find(":/data:nocopy") != std::string::npos);
  CHECK(run.inspect(main, "{{range .HostConfig.Binds}}{{.}} {{end}}").find("/conf:ro,z") != std::string::npos);
  CHECK(run.inspect(main, "{{index .HostConfig.Sysctls \"net.ipv4.ip_unprivileged_port_start\"}}") == "80");
  CHECK(run.inspect(main, "{{.HostConfig.Dns}} {{.HostConfig.DnsSearch}} {{.HostConfig.DnsOptions}} {{.HostConfig.GroupAdd}}") ==
        "[127.0.0.53] [example.test] [ndots:2] [1234]");
  CHECK(run.inspect(main, "{{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.StopSignal}} {{.Config.Domainname}} {{.Config.Hostname}} {{.HostConfig.Init}}") ==
        "true true SIGUSR1 example.test mainhost true");
  CHECK(run.inspect(main, "{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}").find("7000/tcp") != std::string::npos);
  CHECK(run.inspect(main, "{{index .Config.Labels \"from.label.file\"}} {{index .Config.Labels \"team\"}}") == "yes ops");
  CHECK(run.inspect(main, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAMConfig.IPv4Address}} {{end}}") ==
        app + "_back=172.16.99.10 ");
  CHECK(run.inspect(side, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}") == "50331648 250000000 50");
  CHECK(run.inspect(side, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}") == "on-failure:2");
  // The daemon keeps IpcMode as container:<id>.
  CHECK(run.inspect(side, "{{.HostConfig.VolumesFrom}} {{.HostConfig.IpcMode}}") ==
        "[" + main + ":ro] container:" + run.inspect(main, "{{.Id}}"));
  // Legacy links on a user-defined network: the daemon keeps them in HostConfig or the endpoint.
  CHECK(run.inspect(side, "{{range .NetworkSettings.Networks}}{{.Links}}{{end}}").find(main + ":mainalias") != std::string::npos);
  CHECK(sh("docker exec " + side + " nslookup mainalias 2>&1").find("172.16.99.10") != std::string::npos);
  CHECK(sh("docker network inspect -f '{{index .Labels \"net.label\"}} {{index .Options \"com.docker.network.bridge.enable_icc\"}} {{range .IPAM.Config}}{{.Subnet}}{{end}}' " +
           app + "_back") == "1 true 172.16.99.0/24");
  CHECK(sh("docker volume inspect -f '{{index .Labels \"vol.label\"}}' " + app + "_data") == "1");
  // A second pass changes nothing: the payload is stable.
  CHECK(pass(*p, desired, run.env, false).changed() == 0);
}

}  // namespace tend::dockertest

namespace tend::dockertest {

TEST_CASE("compose build: built through /build honouring .dockerignore, args and target, never rebuilt unchanged",
          "[docker][integration][compose]") {
  requireDockerd();
  Run run;
  REQUIRE(makeImage(run.image));
  SpecDir d;
  const std::string app = run.env;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  " + app + ": { host: h, compose: app/compose.yaml }\n");
  d.write("app/ctx/Dockerfile", "FROM " + run.image + " AS base\nARG GREETING\nCOPY . /ctx\nRUN echo \"$GREETING\" > /greeting\n"
                                "FROM base AS final\nRUN echo final > /stage\n");
  d.write("app/ctx/.dockerignore", "secret.txt\nlogs/\n!logs/keep.log\n");
  d.write("app/ctx/app.txt", "v1\n");
  d.write("app/ctx/secret.txt", "do not send\n");
  d.write("app/ctx/logs/big.log", "x\n");
  d.write("app/ctx/logs/keep.log", "keep\n");
  d.write("app/compose.yaml", R"(services:
  web:
    build:
      context: ./ctx
      args: { GREETING: hello-build }
      target: base
      labels: { built.by: tend-test }
    command: [sleep, "3600"]
)");
  LoadOptions opts;
  ProviderRegistry reg;
  reg.add(docker::registration());
  opts.providers = &reg;
  auto load = [&] {
    LoadResult r = loadSpecDir(d.path, opts);
    std::string errs;
    for (const auto& x : r.diagnostics) errs += x.str() + "\n";
    INFO(errs);
    REQUIRE(r.ok());
    return dockerResources(r, run);
  };
  auto desired = load();
  std::string ref;
  for (const auto& x : desired)
    if (x.kind == "image") ref = x.spec["ref"];
  REQUIRE(ref.rfind("tend-build/" + app + "-web:", 0) == 0);
  auto p = makeTestProvider(run.env);
  auto res = pass(*p, desired, run.env, false);
  for (auto& [id, a] : res.applies) {
    INFO(id << ": " << a.message);
    CHECK(a.outcome == Outcome::Ok);
  }
  std::string c = app + "-web";
  CHECK(sh("docker exec " + c + " cat /greeting") == "hello-build");
  CHECK(sh("docker exec " + c + " sh -c 'test -e /stage && echo final || echo base-stage'") == "base-stage");
  CHECK(sh("docker exec " + c + " sh -c 'ls /ctx | tr \"\\n\" \" \"; ls /ctx/logs'") == "Dockerfile app.txt logs keep.log");
  CHECK(sh("docker image inspect -f '{{index .Config.Labels \"built.by\"}}' " + ref) == "tend-test");
  // Unchanged context: nothing to do, no rebuild.
  auto again = pass(*p, load(), run.env, false);
  CHECK(again.changed() == 0);
  // A changed file: a new tag, built, and the container replaced onto it.
  d.write("app/ctx/app.txt", "v2\n");
  auto changed = load();
  std::string ref2;
  for (const auto& x : changed)
    if (x.kind == "image") ref2 = x.spec["ref"];
  CHECK(ref2 != ref);
  auto res2 = pass(*p, changed, run.env, false);
  for (auto& [id, a] : res2.applies) {
    INFO(id << ": " << a.message);
    CHECK(a.outcome == Outcome::Ok);
  }
  CHECK(sh("docker exec " + c + " cat /ctx/app.txt") == "v2");
  // An ignored file changing does not change the context hash.
  d.write("app/ctx/secret.txt", "still not sent\n");
  auto ignored = load();
  for (const auto& x : ignored)
    if (x.kind == "image") CHECK(x.spec["ref"] == ref2);
  sh("docker rmi -f " + ref + " " + ref2 + " >/dev/null 2>&1");
}

}  // namespace tend::dockertest
