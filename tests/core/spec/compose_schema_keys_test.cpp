// Every key of the Compose schema (compose-spec.json at compose-go e70e961: services, their
// nested objects, top-level networks/volumes) is either applied — it loads and reaches the
// payload — or refused with a located error naming it. Nothing is accepted and dropped.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/core/spec/spec_test_util.h"

using nlohmann::json;
using tend::testing::TempSpecDir;

namespace {

struct Case {
  const char* key;
  const char* yaml;      // the service's lines (indented 4) for this key
  bool applied;          // else refused
  const char* payload;   // applied: a JSON pointer into the container payload that must exist ("" = none)
};

// The 93 service keys of the schema, each with a sample value.
const std::vector<Case>& serviceCases() {
  static const std::vector<Case> v = {
      {"annotations", "    annotations: { a: b }\n", false, ""},
      {"attach", "    attach: false\n", false, ""},
      {"blkio_config", "    blkio_config: { weight: 300, device_read_bps: [{ path: /dev/sda, rate: 1mb }] }\n", true, "/engine/host_config/BlkioWeight"},
      {"build", "    build: .\n", false, ""},
      {"cap_add", "    cap_add: [NET_ADMIN]\n", true, "/cap_add"},
      {"cap_drop", "    cap_drop: [ALL]\n", true, "/cap_drop"},
      {"cgroup", "    cgroup: private\n", true, "/engine/host_config/CgroupnsMode"},
      {"cgroup_parent", "    cgroup_parent: m-executor\n", true, "/engine/host_config/CgroupParent"},
      {"command", "    command: [sleep, '1']\n", true, "/command"},
      {"configs", "    configs: [c]\n", true, "/files/0/target"},
      {"container_name", "    container_name: my-web\n", true, "/name"},
      {"cpu_count", "    cpu_count: 2\n", false, ""},
      {"cpu_percent", "    cpu_percent: 50\n", false, ""},
      {"cpu_period", "    cpu_period: 100ms\n", true, "/engine/host_config/CpuPeriod"},
      {"cpu_quota", "    cpu_quota: 50000\n", true, "/engine/host_config/CpuQuota"},
      {"cpu_rt_period", "    cpu_rt_period: 1000000\n", true, "/engine/host_config/CpuRealtimePeriod"},
      {"cpu_rt_runtime", "    cpu_rt_runtime: 400ms\n", true, "/engine/host_config/CpuRealtimeRuntime"},
      {"cpu_shares", "    cpu_shares: 512\n", true, "/engine/host_config/CpuShares"},
      {"cpus", "    cpus: 1.5\n", true, "/cpus"},
      {"cpuset", "    cpuset: 0-1\n", true, "/engine/host_config/CpusetCpus"},
      {"credential_spec", "    credential_spec: { file: x.json }\n", false, ""},
      {"depends_on", "    depends_on: { db: { condition: service_started, required: true } }\n", true, "/depends_on/db"},
      {"deploy", "    deploy: { resources: { limits: { cpus: '0.5', memory: 64m, pids: 100 }, reservations: { memory: 32m } } }\n", true, "/mem_limit"},
      {"develop", "    develop: { watch: [{ path: ., action: sync, target: /app }] }\n", false, ""},
      {"device_cgroup_rules", "    device_cgroup_rules: ['c 1:3 mr']\n", true, "/engine/host_config/DeviceCgroupRules"},
      {"devices", "    devices: [{ source: /dev/null, target: /dev/xnull, permissions: rwm }]\n", true, "/devices"},
      {"dns", "    dns: [1.1.1.1]\n", true, "/dns"},
      {"dns_opt", "    dns_opt: [use-vc]\n", true, "/engine/host_config/DnsOptions"},
      {"dns_search", "    dns_search: example.com\n", true, "/engine/host_config/DnsSearch"},
      {"domainname", "    domainname: example.com\n", true, "/engine/config/Domainname"},
      {"entrypoint", "    entrypoint: [sh, -c]\n", true, "/entrypoint"},
      {"env_file", "    env_file: [{ path: ./x.env, required: false }]\n", true, ""},
      {"environment", "    environment: { A: b }\n", true, "/environment/A"},
      {"expose", "    expose: ['3000']\n", true, "/expose"},
      {"extends", "    extends: { service: db }\n", true, "/image"},
      {"external_links", "    external_links: ['redis:cache']\n", true, "/engine/host_config/Links"},
      {"extra_hosts", "    extra_hosts: { somehost: 162.242.195.82 }\n", true, "/extra_hosts"},
      {"gpus", "    gpus: all\n", true, "/engine/host_config/DeviceRequests"},
      {"group_add", "    group_add: [mail]\n", true, "/group_add"},
      {"healthcheck", "    healthcheck: { test: [CMD, 'true'], interval: 5s }\n", true, "/healthcheck"},
      {"hostname", "    hostname: web1\n", true, "/hostname"},
      {"image", "", true, "/image"},  // the base service has it
      {"init", "    init: true\n", true, "/init"},
      {"ipc", "    ipc: shareable\n", true, "/engine/host_config/IpcMode"},
      {"isolation", "    isolation: process\n", false, ""},
      {"label_file", "    label_file: ./labels.env\n", true, "/labels/from-file"},
      {"labels", "    labels: { team: ops }\n", true, "/labels/team"},
      {"links", "    links: ['db:database']\n", true, "/engine/host_config/Links"},
      {"logging", "    logging: { driver: json-file, options: { max-size: 1m } }\n", true, "/logging"},
      {"mac_address", "    mac_address: 02:42:ac:11:65:43\n", true, "/engine/config/MacAddress"},
      {"mem_limit", "    mem_limit: 64m\n", true, "/mem_limit"},
      {"mem_reservation", "    mem_reservation: 32m\n", true, "/mem_reservation"},
      {"mem_swappiness", "    mem_swappiness: 10\n", true, "/engine/host_config/MemorySwappiness"},
      {"memswap_limit", "    memswap_limit: 128m\n", true, "/engine/host_config/MemorySwap"},
      {"models", "    models: [m]\n", false, ""},
      {"network_mode", "    network_mode: host\n", true, "/network_mode"},
      {"networks", "    networks: { back: { aliases: [x], ipv4_address: 172.30.9.5, priority: 10 } }\n", true, ""},
      {"oom_kill_disable", "    oom_kill_disable: true\n", true, "/engine/host_config/OomKillDisable"},
      {"oom_score_adj", "    oom_score_adj: 500\n", true, "/engine/host_config/OomScoreAdj"},
      {"pid", "    pid: host\n", true, "/engine/host_config/PidMode"},
      {"pids_limit", "    pids_limit: 100\n", true, "/engine/host_config/PidsLimit"},
      {"platform", "    platform: linux/amd64\n", false, ""},
      {"ports", "    ports: ['127.0.0.1:18080:80']\n", true, "/ports"},
      {"post_start", "    post_start: [{ command: ['true'] }]\n", false, ""},
      {"pre_start", "    pre_start: [{ command: ['true'] }]\n", false, ""},
      {"pre_stop", "    pre_stop: [{ command: ['true'] }]\n", false, ""},
      {"privileged", "    privileged: true\n", true, "/privileged"},
      {"profiles", "    profiles: [debug]\n", true, ""},
      {"provider", "    provider: { type: x }\n", false, ""},
      {"pull_policy", "    pull_policy: always\n", true, ""},
      {"pull_refresh_after", "    pull_refresh_after: 1h\n", false, ""},
      {"read_only", "    read_only: true\n", true, "/read_only"},
      {"restart", "    restart: unless-stopped\n", true, "/restart"},
      {"runtime", "    runtime: runc\n", true, "/engine/host_config/Runtime"},
      {"scale", "    scale: 2\n", false, ""},
      {"secrets", "    secrets: [s]\n", true, "/files/0/target"},
      {"security_opt", "    security_opt: ['no-new-privileges:true']\n", true, "/security_opt"},
      {"shm_size", "    shm_size: 64m\n", true, "/shm_size"},
      {"stdin_open", "    stdin_open: true\n", true, "/stdin_open"},
      {"stop_grace_period", "    stop_grace_period: 30s\n", true, "/stop_grace_period_s"},
      {"stop_signal", "    stop_signal: SIGUSR1\n", true, "/stop_signal"},
      {"storage_opt", "    storage_opt: { size: 1G }\n", true, "/engine/host_config/StorageOpt"},
      {"sysctls", "    sysctls: { net.core.somaxconn: 1024 }\n", true, "/sysctls"},
      {"tmpfs", "    tmpfs: ['/run:size=64m']\n", true, "/tmpfs"},
      {"tty", "    tty: true\n", true, "/tty"},
      {"ulimits", "    ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } }\n", true, "/engine/host_config/Ulimits"},
      {"use_api_socket", "    use_api_socket: true\n", false, ""},
      {"user", "    user: '1000:1000'\n", true, "/user"},
      {"userns_mode", "    userns_mode: host\n", true, "/engine/host_config/UsernsMode"},
      {"uts", "    uts: host\n", true, "/engine/host_config/UTSMode"},
      {"volumes", "    volumes: ['./data:/data:z']\n", true, "/volumes/0/options"},
      {"volumes_from", "    volumes_from: ['db:ro']\n", true, "/engine/host_config/VolumesFrom"},
      {"working_dir", "    working_dir: /app\n", true, "/working_dir"},
  };
  return v;
}

// Nested keys whose handling the issue named: option and expected outcome.
const std::vector<Case>& nestedCases() {
  static const std::vector<Case> v = {
      {"nocopy", "    volumes: [{ type: volume, source: data, target: /d, volume: { nocopy: true } }]\n", true, "/volumes/0/options"},
      {"subpath", "    volumes: [{ type: volume, source: data, target: /d, volume: { subpath: x } }]\n", false, ""},
      {"propagation", "    volumes: [{ type: bind, source: ./d, target: /d, bind: { propagation: rslave } }]\n", true, "/volumes/0/options"},
      {"selinux", "    volumes: [{ type: bind, source: ./d, target: /d, bind: { selinux: Z } }]\n", true, "/volumes/0/options"},
      {"create_host_path", "    volumes: [{ type: bind, source: ./d, target: /d, bind: { create_host_path: false } }]\n", false, ""},
      {"size", "    volumes: [{ type: tmpfs, target: /t, tmpfs: { size: 64m, mode: 1777 } }]\n", true, "/volumes/0/tmpfs"},
      {"source", "    volumes: [{ type: bind, target: /d }]\n", false, ""},
      {"mode", "    ports: [{ target: 80, published: 18081, mode: ingress }]\n", false, ""},
      {"name", "    ports: [{ target: 80, name: web }]\n", false, ""},
      {"app_protocol", "    ports: [{ target: 80, app_protocol: http }]\n", false, ""},
      {"start_interval", "    healthcheck: { test: [CMD, 'true'], start_interval: 1s }\n", false, ""},
      {"ipv6_address", "    networks: { back: { ipv6_address: 'fd00::5' } }\n", true, ""},
      {"restart", "    depends_on: { db: { condition: service_started, restart: true } }\n", false, ""},
      {"replicas", "    deploy: { replicas: 3 }\n", false, ""},
      {"placement", "    deploy: { placement: { constraints: [x] } }\n", false, ""},
      {"restart_policy", "    deploy: { restart_policy: { condition: on-failure, max_attempts: 3 } }\n", true, "/restart"},
      {"x-extension", "    x-extension: { anything: [1] }\n    healthcheck: { test: [CMD, 'true'], x-note: n }\n", true, ""},
  };
  return v;
}

const char* kBase = R"(services:
  web:
    image: busybox:1.36
%s  db:
    image: busybox:1.36
networks:
  back:
    ipam: { config: [{ subnet: 172.30.9.0/24 }] }
volumes:
  data: {}
secrets:
  s: { environment: TEND_SCHEMA_KEYS_UNSET }
configs:
  c: { content: "key = value" }
)";

std::string composeWith(const std::string& lines) {
  std::string s = kBase;
  s.replace(s.find("%s"), 2, lines);
  return s;
}

}  // namespace

TEST_CASE("every Compose service key is applied or refused with its name", "[spec][compose][schema]") {
  REQUIRE(serviceCases().size() == 93);
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml, profiles: [debug] }\n");
  d.write("labels.env", "from-file=yes\n");
  std::vector<Case> all = serviceCases();
  all.insert(all.end(), nestedCases().begin(), nestedCases().end());
  for (const auto& c : all) {
    d.write("c.yml", composeWith(c.yaml));
    auto r = tend::test::loadSpec(d.path());
    std::string errs;
    for (const auto& x : r.diagnostics)
      if (x.severity == tend::Severity::Error) errs += x.str() + "\n";
    INFO("key '" << c.key << "':\n" << errs);
    if (c.applied) {
      REQUIRE(r.ok());
      if (*c.payload) {
        const tend::DesiredResource* web = nullptr;
        for (const auto& res : r.graph->resources)
          if (res.id == "container/a/web") web = &res;
        REQUIRE(web);
        INFO(web->spec.dump());
        CHECK(web->spec.contains(json::json_pointer(c.payload)));
      }
    } else {
      REQUIRE_FALSE(r.ok());
      CHECK(errs.find(c.key) != std::string::npos);
      CHECK(errs.find("c.yml:") != std::string::npos);  // located in the Compose file
    }
  }
}

TEST_CASE("every Compose network and volume key is applied or refused", "[spec][compose][schema]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml }\n");
  d.write("c.yml", R"(services:
  web:
    image: busybox:1.36
    networks: [mv, inner]
    volumes: [data:/data]
networks:
  mv:
    driver: macvlan
    driver_opts: { parent: eth0 }
    labels: { team: net }
    attachable: true
    enable_ipv6: true
    ipam: { driver: default, config: [{ subnet: 10.99.0.0/24, gateway: 10.99.0.1, ip_range: 10.99.0.128/25, aux_addresses: { r: 10.99.0.2 } }] }
  inner:
    internal: true
    x-note: yes
volumes:
  data:
    driver: local
    driver_opts: { type: tmpfs, device: tmpfs }
    labels: { backup: daily }
)");
  auto r = tend::test::loadSpec(d.path());
  std::string errs;
  for (const auto& x : r.diagnostics)
    if (x.severity == tend::Severity::Error) errs += x.str() + "\n";
  INFO(errs);
  REQUIRE(r.ok());
  std::map<std::string, json> by;
  for (const auto& res : r.graph->resources) by[res.id] = res.spec;
  const json& mv = by.at("network/h/a_mv");
  CHECK(mv["driver_opts"]["parent"] == "eth0");
  CHECK(mv["labels"]["team"] == "net");
  CHECK(mv["attachable"] == true);
  CHECK(mv["enable_ipv6"] == true);
  CHECK(mv["ipam"]["config"][0]["aux_addresses"]["r"] == "10.99.0.2");
  CHECK(by.at("network/h/a_inner")["internal"] == true);
  CHECK(by.at("volume/h/a_data")["labels"]["backup"] == "daily");
  CHECK(by.at("volume/h/a_data")["driver_opts"]["type"] == "tmpfs");
}

TEST_CASE("an alias bomb under volumes.X.labels of a Compose file is refused fast with a location", "[spec][compose][bad-input]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml }\n");
  std::string bomb = "services:\n  web: { image: busybox:1.36 }\nvolumes:\n  data:\n    labels:\n      l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i)
    bomb += "      l" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  d.write("c.yml", bomb);
  auto t0 = std::chrono::steady_clock::now();
  auto r = tend::test::loadSpec(d.path());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r.ok());
  std::string errs;
  for (const auto& x : r.diagnostics) errs += x.str() + "\n";
  INFO(errs);
  CHECK(errs.find("c.yml:") != std::string::npos);
  CHECK(ms < 500);
}
