// Pure parts of the docker provider: endpoints, payload translation, plan decisions.
#include <catch2/catch.hpp>

#include "docker_fixture.h"
#include "providers/docker/docker_provider.h"
#include "providers/docker/engine_client.h"
#include "providers/docker/payload.h"
#include "providers/docker/transport.h"

using namespace tend;
using namespace tend::docker;
using nlohmann::json;

namespace {
class MapSecrets final : public SecretResolver {
 public:
  std::map<std::string, std::string> m;
  std::vector<std::string> names() const override {
    std::vector<std::string> v;
    for (auto& [k, _] : m) v.push_back(k);
    return v;
  }
  Result<SecretString> get(const std::string& n) const override {
    auto it = m.find(n);
    if (it == m.end()) return makeError("secret '" + n + "' is not defined");
    return SecretString(it->second);
  }
};
}  // namespace

TEST_CASE("docker endpoints parse unix, tcp and ssh forms", "[docker][unit]") {
  auto u = parseEndpoint("unix:/var/run/docker.sock");
  REQUIRE(u.ok());
  CHECK(u->kind == Endpoint::Kind::Unix);
  CHECK(u->path == "/var/run/docker.sock");
  CHECK(parseEndpoint("unix:///run/d.sock")->path == "/run/d.sock");
  auto t = parseEndpoint("tcp://127.0.0.1:2376");
  REQUIRE(t.ok());
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == 2376);
  auto s = parseEndpoint("ssh://admin@10.2.20.60:2222");
  REQUIRE(s.ok());
  CHECK(s->kind == Endpoint::Kind::Ssh);
  CHECK(s->user == "admin");
  CHECK(s->port == 2222);
  CHECK(s->path == "/var/run/docker.sock");
  CHECK_FALSE(parseEndpoint("http://x").ok());
  CHECK_FALSE(parseEndpoint("tcp://h:99999").ok());
}

TEST_CASE("ssh endpoints fail clearly without host sessions", "[docker][unit]") {
  auto ep = parseEndpoint("ssh://admin@127.0.0.1:22");
  REQUIRE(ep.ok());
  EngineClient c(*ep);
  ApiRequest r;
  r.target = "/_ping";
  r.versioned = false;
  auto res = c.call(r);
  CHECK(res.status == 0);
  CHECK(res.error.find("ssh transport not available") != std::string::npos);
}

TEST_CASE("api versions compare numerically", "[docker][unit]") {
  CHECK(compareApiVersions("1.41", "1.41") == 0);
  CHECK(compareApiVersions("1.9", "1.41") < 0);
  CHECK(compareApiVersions("1.44", "1.41") > 0);
}

TEST_CASE("error text comes from the message envelope with the status", "[docker][unit]") {
  ApiResponse r;
  r.status = 404;
  r.body = R"({"message":"No such container: abc"})" "\n";
  CHECK(r.errorText() == "docker: No such container: abc (HTTP 404)");
}

TEST_CASE("docker error bodies are redacted before they are cut", "[docker][unit][redaction]") {
  // A secret straddling the cut: cutting first would keep its first half, which the redactor
  // can no longer recognise.
  const std::string secret = "docker-err-canary-0123456789abcdef0123456789abcdef";
  Redactor::instance().add(secret);
  ApiResponse r;
  r.status = 500;
  r.body = std::string(470, 'x') + " env DB_PASSWORD=" + secret + " rejected";
  std::string text = r.errorText();
  CHECK(text.find("docker-err-canary") == std::string::npos);
  CHECK(text.find("(secret)") != std::string::npos);
  CHECK(text.size() < 600);
  // The same inside the JSON envelope, and for a short (3-byte) secret written as a value.
  Redactor::instance().add("K9p");
  r.body = nlohmann::json{{"message", std::string(490, 'y') + " PIN=K9p and " + secret}}.dump();
  text = r.errorText();
  CHECK(text.find("docker-err-canary") == std::string::npos);
  CHECK(text.find("K9p") == std::string::npos);
}

TEST_CASE("query values and image paths are percent-encoded, each keeping its own characters", "[docker][unit]") {
  CHECK(urlEncode(R"({"label":["a=b c"]})") == "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
  CHECK(urlEncode("a-b_c.d~e/f") == "a-b_c.d~e%2Ff");
  // An image path keeps a ref's own separators; anything else cannot reach the request line raw.
  CHECK(percentEncode("lscr.io/linuxserver/bookstack:24.10", "._-/:@") == "lscr.io/linuxserver/bookstack:24.10");
  CHECK(percentEncode("alpine@sha256:ab12", "._-/:@") == "alpine@sha256:ab12");
  CHECK(percentEncode("x y?z#w\r\n", "._-/:@") == "x%20y%3Fz%23w%0D%0A");
}

TEST_CASE("image refs normalise like the daemon's familiar names", "[docker][unit]") {
  CHECK(normalizeImageRef("busybox") == "busybox:latest");
  CHECK(normalizeImageRef("docker.io/library/busybox:1.36") == "busybox:1.36");
  CHECK(normalizeImageRef("lscr.io/linuxserver/bookstack:24.10") == "lscr.io/linuxserver/bookstack:24.10");
  CHECK(normalizeImageRef("localhost:5000/app") == "localhost:5000/app:latest");
  std::string n, t;
  splitImageRef("localhost:5000/app", n, t);
  CHECK(n == "localhost:5000/app");
  CHECK(t == "latest");
  splitImageRef("alpine@sha256:abc", n, t);
  CHECK(n == "alpine");
  CHECK(t == "sha256:abc");
}

TEST_CASE("container payload translates every compose field to the create body", "[docker][unit]") {
  dockertest::Run run;  // only for building resources; touches nothing without a call
  auto r = run.container("web", "app",
                         {{"environment", {{"TZ", "UTC"}, {"PW", "${secret:pw}"}}},
                          {"ports", {{{"host_ip", "127.0.0.1"}, {"published", 18080}, {"target", 80}, {"protocol", "tcp"}}}},
                          {"volumes", {{{"type", "bind"}, {"source", "/srv/x"}, {"target", "/x"}, {"read_only", true}},
                                       {{"type", "volume"}, {"source", "web_data"}, {"target", "/data"}, {"read_only", false}}}},
                          {"networks", {{"web_default", {{"aliases", {"app"}}}}, {"other", json::object()}}},
                          {"restart", "unless-stopped"},
                          {"user", "1000"},
                          {"working_dir", "/www"},
                          {"healthcheck", {{"test", {"CMD", "true"}}, {"interval_s", 2}, {"timeout_s", 3}, {"retries", 4}, {"start_period_s", 0}}},
                          {"cap_add", {"NET_ADMIN"}},
                          {"devices", {"/dev/null:/dev/mynull"}},
                          {"extra_hosts", {"host.docker.internal:host-gateway"}},
                          {"logging", {{"driver", "json-file"}, {"options", {{"max-size", "10m"}}}}},
                          {"privileged", true},
                          {"entrypoint", {"/bin/sh", "-c"}},
                          {"command", "httpd -f -p 80"}});
  auto b = buildContainerCreate(r, run.env);
  REQUIRE(b.ok());
  const json& j = b->body;
  CHECK(j["Env"] == json({"PW=${secret:pw}", "TZ=UTC"}));
  CHECK(j["Cmd"] == json({"httpd", "-f", "-p", "80"}));
  CHECK(j["Entrypoint"] == json({"/bin/sh", "-c"}));
  CHECK(j["Labels"]["io.tend.resource"] == "container/web/app");
  CHECK(j["Labels"]["io.tend.environment"] == run.env);
  CHECK(j["Labels"]["io.tend.spec-hash"] == r.hash);
  CHECK(j["Labels"]["com.docker.compose.project"] == "web");
  CHECK(j["Labels"]["com.docker.compose.service"] == "app");
  CHECK(j["Labels"]["com.docker.compose.oneoff"] == "False");
  CHECK(j["ExposedPorts"].contains("80/tcp"));
  CHECK(j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"] == "127.0.0.1");
  CHECK(j["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == "18080");
  CHECK(j["HostConfig"]["Binds"] == json({"/srv/x:/x:ro", "web_data:/data"}));
  CHECK(j["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped");
  CHECK(j["HostConfig"]["CapAdd"] == json({"NET_ADMIN"}));
  CHECK(j["HostConfig"]["Devices"][0]["PathInContainer"] == "/dev/mynull");
  CHECK(j["HostConfig"]["ExtraHosts"][0] == "host.docker.internal:host-gateway");
  CHECK(j["HostConfig"]["LogConfig"]["Config"]["max-size"] == "10m");
  CHECK(j["HostConfig"]["Privileged"] == true);
  CHECK(j["User"] == "1000");
  CHECK(j["WorkingDir"] == "/www");
  CHECK(j["Healthcheck"]["Interval"] == 2000000000LL);
  CHECK(j["Healthcheck"]["Retries"] == 4);
  // API 1.41 takes one network at create; the rest are connected before start.
  CHECK(j["HostConfig"]["NetworkMode"] == "other");
  REQUIRE(b->extraNetworks.size() == 1);
  CHECK(b->extraNetworks[0].first == "web_default");
  CHECK(b->extraNetworks[0].second["Aliases"] == json({"app"}));
}

TEST_CASE("secrets are substituted only into the create body", "[docker][unit]") {
  MapSecrets s;
  s.m["pw"] = "hunter22";
  json body = {{"Env", {"PW=${secret:pw}", "X=1"}}};
  REQUIRE(substituteSecretsInJson(body, &s).ok());
  CHECK(body["Env"][0] == "PW=hunter22");
  json missing = {{"Env", {"PW=${secret:nope}"}}};
  auto r = substituteSecretsInJson(missing, &s);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nope") != std::string::npos);
  json noResolver = {{"Env", {"PW=${secret:pw}"}}};
  auto r2 = substituteSecretsInJson(noResolver, nullptr);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message.find("hunter22") == std::string::npos);
}

TEST_CASE("health is read from the list status text", "[docker][unit]") {
  CHECK(healthFromStatus("Up 3 seconds (health: starting)") == "starting");
  CHECK(healthFromStatus("Up 1 minute (healthy)") == "healthy");
  CHECK(healthFromStatus("Up 1 minute (unhealthy)") == "unhealthy");
  CHECK(healthFromStatus("Exited (0) 2 seconds ago").empty());
}

TEST_CASE("a container list keeps only what observe reads", "[docker][unit]") {
  std::string body = R"([{"Id":"abc","Names":["/app-web"],"Image":"x","ImageID":"sha256:1","Command":"sleep 1",
    "Created":1,"Ports":[{"PrivatePort":80}],"Labels":{"io.tend.resource":"container/app/web","Id":"not a key of the container"},
    "State":"running","Status":"Up 3 minutes","HostConfig":{"NetworkMode":"app_default"},
    "NetworkSettings":{"Networks":{"app_default":{"IPAddress":"172.18.0.2","Id":"n"}}},"Mounts":[{"Name":"v"}]},
    {"Id":"def","Names":["/other"],"State":"exited","Status":"Exited (1) 2 seconds ago","Labels":{}}])";
  auto j = parseContainerList(body);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  CHECK(j[0] == json::parse(R"({"Id":"abc","Names":["/app-web"],"ImageID":"sha256:1",
    "Labels":{"io.tend.resource":"container/app/web","Id":"not a key of the container"},"State":"running","Status":"Up 3 minutes"})"));
  CHECK(j[1]["Status"] == "Exited (1) 2 seconds ago");
  CHECK(parseContainerList("[{\"Id\":").is_discarded());
  CHECK(parseContainerList("{\"message\":\"x\"}").is_object());
}

TEST_CASE("a container's message keeps what the status says, not how long ago", "[docker][unit]") {
  CHECK(containerMessage("running", "Up 3 minutes") == "running");
  CHECK(containerMessage("running", "Up 4 minutes") == "running");
  CHECK(containerMessage("running", "Up 1 minute (healthy)") == "running (healthy)");
  CHECK(containerMessage("running", "Up 2 hours (unhealthy)") == "running (unhealthy)");
  CHECK(containerMessage("running", "Up 3 seconds (health: starting)") == "running (health: starting)");
  CHECK(containerMessage("exited", "Exited (3) 2 seconds ago") == "exited (3)");
  CHECK(containerMessage("exited", "Exited (3) 2 days ago") == "exited (3)");
  CHECK(containerMessage("restarting", "Restarting (1) 5 seconds ago") == "restarting (1)");
  CHECK(containerMessage("exited", "Exited") == "exited");
  CHECK(containerMessage("paused", "Up 5 minutes (Paused)") == "paused");
  CHECK(containerMessage("created", "Created") == "created");
  CHECK(containerMessage("", "Up 3 minutes") == "Up 3 minutes");
}

TEST_CASE("plan recreates only on hash change, restarts stopped, flags conflicts", "[docker][unit]") {
  auto p = makeDockerProvider({});
  REQUIRE(p.ok());
  dockertest::Run run;
  auto d = run.container("web", "app");
  ObservedResource o;
  o.id = d.id;
  o.exists = o.owned = true;
  o.appliedHash = d.hash;
  o.state = {{"state", "running"}, {"health", ""}, {"name", "web-app"}};
  CHECK((*p)->plan({&d, &o}).action == Action::Noop);

  o.state["state"] = "exited";
  o.message = "Exited (137) 1 second ago";
  auto a = (*p)->plan({&d, &o});
  CHECK(a.action == Action::Update);
  CHECK(a.drift);

  o.state["state"] = "running";
  o.appliedHash = "old";
  a = (*p)->plan({&d, &o});
  CHECK(a.action == Action::Replace);
  CHECK_FALSE(a.drift);
  CHECK(a.diff["spec-hash"]["to"] == d.hash);

  o.owned = false;
  a = (*p)->plan({&d, &o});
  CHECK(a.conflict);
  CHECK(a.action == Action::Noop);

  CHECK((*p)->plan({&d, nullptr}).action == Action::Create);
  ObservedResource gone = o;
  gone.owned = true;
  CHECK((*p)->plan({nullptr, &gone}).action == Action::Delete);
}

TEST_CASE("plan keeps volumes unless prune_volumes and never re-pulls present images", "[docker][unit]") {
  auto p = makeDockerProvider({});
  REQUIRE(p.ok());
  dockertest::Run run;
  auto v = run.volume("web", "data", false);
  ObservedResource o;
  o.id = v.id;
  o.exists = o.owned = true;
  o.appliedHash = "older";
  o.state = {{"name", "web_data"}, {"prune_volume", false}};
  auto a = (*p)->plan({&v, &o});
  CHECK(a.action == Action::Noop);  // never recreated
  CHECK(a.reason.find("data is precious") != std::string::npos);

  auto img = run.imageRes("busybox:1.36", "missing");
  ObservedResource io;
  io.id = img.id;
  io.exists = io.owned = io.ready = true;
  io.appliedHash = img.hash;
  CHECK((*p)->plan({&img, &io}).action == Action::Noop);
  io.state["pull_due"] = true;  // pull: always, interval elapsed
  CHECK((*p)->plan({&img, &io}).action == Action::Update);
  CHECK((*p)->plan({&img, nullptr}).action == Action::Create);
  CHECK((*p)->plan({nullptr, &io}).action == Action::Noop);  // images are never pruned
}

TEST_CASE("the factory rejects unknown transports", "[docker][unit]") {
  ProviderConfig cfg;
  cfg.config = {{"transport", "carrier-pigeon"}};
  CHECK_FALSE(makeDockerProvider(cfg).ok());
  cfg.config = {{"transport", "unix:/var/run/docker.sock"}};
  REQUIRE(makeDockerProvider(cfg).ok());
  CHECK((*makeDockerProvider(cfg))->name() == "docker");
}
