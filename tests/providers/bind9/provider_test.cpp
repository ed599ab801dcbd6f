// Provider behaviour on local files with the real named-checkzone/named-checkconf, without a
// running named (reload: none). The tests against a running named are in integration_test.cpp.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/spec.h"
#include "providers/bind9/host_io_sessions.h"
#include "tests/providers/bind9/test_env.h"
#include "tests/support/spec_load.h"

using namespace tend;
using namespace tend::bind9;
using nlohmann::json;
using testing::day;
using testing::Env;
using testing::mtimeNs;
using testing::slurp;
namespace fs = std::filesystem;

TEST_CASE("bind9 provider is named bind9 and manages zone and dnsconf", "[bind9][provider]") {
  auto p = makeBind9Provider(ProviderConfig{});
  REQUIRE(p.ok());
  CHECK((*p)->name() == "bind9");
  CHECK((*p)->kinds() == std::vector<std::string>{"zone", "dnsconf"});
}

TEST_CASE("a server reached over ssh in a process without ssh sessions says so, terminally",
          "[bind9][provider]") {
  Env e;
  auto d = testing::makeResource("zone/a.test@internal", "zone",
                                 {{"zone", "a.test"},
                                  {"view", "internal"},
                                  {"server", "networking"},
                                  {"endpoint", "ssh://root@127.2.0.53:22"},
                                  {"conf_dir", e.wil.confDir}});
  ObserveRequest req;
  req.desired = {&d};
  auto obs = e.provider->observe(req);
  REQUIRE(obs.errors.count(d.id));
  CHECK(obs.errors[d.id].message ==
        "bind9 server 'networking' is reached over SSH (ssh://root@127.2.0.53:22), and this process "
        "has no SSH sessions (only tendd has them)");
  CHECK(obs.errors[d.id].terminal);
  CHECK_FALSE(fs::exists(e.wil.confDir + "/zones"));
}

TEST_CASE("a server without an ssh endpoint is this machine, whatever its name", "[bind9][provider]") {
  Env e;
  auto d = testing::makeResource("zone/a.test@internal", "zone",
                                 {{"zone", "a.test"},
                                  {"view", "internal"},
                                  {"server", "networking"},
                                  {"conf_dir", e.wil.confDir}});
  ObserveRequest req;
  req.desired = {&d};
  auto obs = e.provider->observe(req);
  CHECK(obs.errors.empty());
  CHECK_FALSE(obs.observed[d.id].exists);
}

TEST_CASE("ssh endpoints of bind9 servers parse as the docker ones do", "[bind9][provider]") {
  auto a = parseSshEndpoint("ssh://tend@10.2.20.53:2222");
  REQUIRE(a.ok());
  CHECK(a->user == "tend");
  CHECK(a->host == "10.2.20.53");
  CHECK(a->port == 2222);
  auto b = parseSshEndpoint("ssh://root@[fd00::53]");
  REQUIRE(b.ok());
  CHECK(b->host == "fd00::53");
  CHECK(b->port == 22);
  CHECK_FALSE(parseSshEndpoint("ssh://root@host:99999").ok());
  CHECK_FALSE(parseSshEndpoint("tcp://host:22").ok());
  CHECK_FALSE(parseSshEndpoint("ssh://root@").ok());
}

TEST_CASE(
    "the wil spec puts named on the networking VM over ssh: in a process without ssh sessions "
    "every bind9 resource fails saying so, nothing is written",
    "[bind9][provider][spec]") {
  auto loaded = test::loadSpec(std::string(TEND_SOURCE_DIR) + "/specs/wil");
  INFO(json(loaded.diagnostics.size()).dump());
  REQUIRE(loaded.ok());
  const DesiredGraph& g = *loaded.graph;
  REQUIRE(g.providerConfigs.count("bind9"));
  Env e;
  ProviderConfig cfg;
  cfg.config = g.providerConfigs.at("bind9");
  cfg.specDir = g.specDir;
  cfg.stateDir = e.dir + "/state";
  REQUIRE(cfg.config.value("server", "") == "networking");
  auto made = makeBind9Provider(cfg);
  REQUIRE(made.ok());
  std::vector<DesiredResource> mine;
  for (const auto& r : g.resources)
    if (r.provider == "bind9") mine.push_back(r);
  REQUIRE(mine.size() > 5);  // the five domains' zones per view, the reverse zone, dnsconf
  for (const auto& d : mine) CHECK(d.spec.value("endpoint", "").rfind("ssh://", 0) == 0);

  auto existed = [](const std::string& p) { return fs::exists(p); };
  std::string confDir = cfg.config.value("conf_dir", "");
  bool fragBefore = existed(confDir + "/named.conf.tend");
  bool zonesBefore = existed(confDir + "/zones");
  const std::string want = "is reached over SSH (ssh://";
  auto r = testing::converge(**made, mine);
  for (const auto& d : mine) {
    INFO(d.id);
    REQUIRE(r.failures.count(d.id));
    CHECK(r.failures[d.id].find("bind9 server 'networking'") == 0);
    CHECK(r.failures[d.id].find(want) != std::string::npos);
  }
  // An apply reached directly (a plan made elsewhere) says the same, terminally.
  ApplyRequest req;
  req.action.id = mine.front().id;
  req.action.kind = mine.front().kind;
  req.action.action = Action::Create;
  req.desired = &mine.front();
  auto a = (*made)->apply(req);
  CHECK(a.outcome == Outcome::Failed);
  CHECK(a.terminal);
  CHECK(a.message.find(want) != std::string::npos);
  CHECK(existed(confDir + "/named.conf.tend") == fragBefore);
  CHECK(existed(confDir + "/zones") == zonesBefore);
}

TEST_CASE("converging wil writes every zone once, then a second pass is a no-op",
          "[bind9][provider]") {
  Env e;
  auto desired = e.wil.resources();
  auto r1 = testing::converge(*e.provider, desired);
  CHECK(r1.failures.empty());
  CHECK(r1.applied.size() == desired.size());
  std::string f = e.zfile("wil.5am.cloud", "internal");
  std::string text = slurp(f);
  CHECK(text.rfind("; managed by tend: resource zone/wil.5am.cloud@internal", 0) == 0);
  CHECK(text.find("2026112500 ; serial") != std::string::npos);
  CHECK(slurp(e.wil.confDir + "/named.conf.tend")
            .rfind("// managed by tend: resource dnsconf/local", 0) == 0);
  auto m = mtimeNs(f);

  auto r2 = testing::converge(*e.provider, desired);
  CHECK(r2.failures.empty());
  CHECK(r2.applied.empty());
  for (const auto& [id, a] : r2.plans) CHECK(a.action == Action::Noop);
  CHECK(mtimeNs(f) == m);
  CHECK(slurp(f) == text);

  // A fresh provider (restart) over the same files plans nothing either.
  e.provider = e.make();
  CHECK(testing::converge(*e.provider, desired).applied.empty());
}

TEST_CASE("adding a record bumps exactly that zone's serial and keeps the rest byte-identical",
          "[bind9][provider]") {
  Env e;
  auto desired = e.wil.resources();
  testing::converge(*e.provider, desired);
  std::map<std::string, std::string> before;
  for (const auto& d : desired)
    before[d.id] = slurp(d.kind == "zone" ? e.zfile(d.spec["zone"], d.spec["view"])
                                          : e.wil.confDir + "/named.conf.tend");

  e.wil.records["5am.video"]["internal"].push_back(
      testing::rec("audiobookshelf", "A", "10.2.20.53"));
  auto desired2 = e.wil.resources();
  auto r = testing::converge(*e.provider, desired2);
  REQUIRE(r.failures.empty());
  CHECK(r.applied == std::vector<std::string>{"zone/5am.video@internal"});
  CHECK(r.plans["zone/5am.video@internal"].diff["records"]["added"] ==
        json::array({"audiobookshelf - A 10.2.20.53"}));
  for (const auto& d : desired2) {
    std::string now = slurp(d.kind == "zone" ? e.zfile(d.spec["zone"], d.spec["view"])
                                             : e.wil.confDir + "/named.conf.tend");
    if (d.id == "zone/5am.video@internal") {
      CHECK(now.find("2026112501 ; serial") != std::string::npos);
      CHECK(now.find("audiobookshelf") != std::string::npos);
      CHECK(slurp(e.zfile("5am.video", "internal") + ".prev") == before[d.id]);
    } else {
      CHECK(now == before[d.id]);
    }
  }
}

TEST_CASE("serials survive a restart and a clock going backwards", "[bind9][provider]") {
  Env e;
  std::map<std::string, json> state;  // the engine's private data per resource
  auto desired = e.wil.resources();
  testing::converge(*e.provider, desired, &state);
  e.clock.setWall(day(2026, 11, 1));  // clock went back
  e.provider = e.make();
  e.wil.records["sfc.al"]["internal"].push_back(testing::rec("x", "A", "10.2.20.1"));
  REQUIRE(testing::converge(*e.provider, e.wil.resources(), &state).failures.empty());
  CHECK(slurp(e.zfile("sfc.al", "internal")).find("2026112501 ; serial") != std::string::npos);
  CHECK(state["zone/sfc.al@internal"]["serial"] == 2026112501u);
  // No side file: the serial lives in the private data tend keeps in its state database.
  CHECK_FALSE(fs::exists(e.dir + "/state/bind9-serials.json"));

  // File deleted by hand and the state kept: the serial still moves forward.
  fs::remove(e.zfile("sfc.al", "internal"));
  auto r = testing::converge(*e.provider, e.wil.resources(), &state);
  CHECK(r.plans["zone/sfc.al@internal"].action == Action::Create);
  CHECK(slurp(e.zfile("sfc.al", "internal")).find("2026112502 ; serial") != std::string::npos);
}

TEST_CASE("a hand-edited or deleted zone file is drift and is restored", "[bind9][provider]") {
  Env e;
  auto desired = e.wil.resources();
  testing::converge(*e.provider, desired);
  std::string f = e.zfile("ext.5am.cloud", "external");
  std::string good = slurp(f);
  { std::ofstream(f, std::ios::app) << "evil IN A 10.9.9.9\n"; }
  auto r = testing::converge(*e.provider, desired);
  const auto& a = r.plans["zone/ext.5am.cloud@external"];
  CHECK(a.action == Action::Update);
  CHECK(a.drift);
  CHECK(a.reason == "zone file edited by hand");
  CHECK(r.applied == std::vector<std::string>{"zone/ext.5am.cloud@external"});
  std::string restored = slurp(f);
  CHECK(restored.find("evil") == std::string::npos);
  CHECK(restored.find("2026112501 ; serial") != std::string::npos);  // named must see a change
}

TEST_CASE("a file without tend's mark at the target path is a conflict and never touched",
          "[bind9][provider]") {
  Env e;
  auto desired = e.wil.resources();
  std::string f = e.zfile("sfc.al", "external");
  fs::create_directories(fs::path(f).parent_path());
  { std::ofstream(f) << "; hand-made\n$TTL 60\n"; }
  auto r = testing::converge(*e.provider, desired);
  CHECK(r.plans["zone/sfc.al@external"].conflict);
  CHECK(r.failures.count("zone/sfc.al@external"));
  CHECK(slurp(f) == "; hand-made\n$TTL 60\n");
}

TEST_CASE("a zone named-checkzone rejects is never written and fails with its message",
          "[bind9][provider]") {
  Env e;
  testing::converge(*e.provider, e.wil.resources());
  std::string f = e.zfile("5am.cloud", "internal");
  std::string before = slurp(f);
  auto m = mtimeNs(f);
  e.wil.records["5am.cloud"]["internal"].push_back(testing::rec("@", "CNAME", "elsewhere.test."));
  auto r = testing::converge(*e.provider, e.wil.resources());
  REQUIRE(r.failures.count("zone/5am.cloud@internal"));
  const std::string& msg = r.failures["zone/5am.cloud@internal"];
  CHECK(msg.find("named-checkzone rejected 5am.cloud@internal") != std::string::npos);
  CHECK(msg.find("CNAME and other data") != std::string::npos);
  CHECK(msg.find(".tmp-") == std::string::npos);
  CHECK(slurp(f) == before);
  CHECK(mtimeNs(f) == m);
  // No temp file left behind.
  for (const auto& ent : fs::directory_iterator(fs::path(f).parent_path()))
    CHECK(ent.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("owned zone files that left the spec are reported and pruned", "[bind9][provider]") {
  Env e;
  testing::converge(*e.provider, e.wil.resources());
  std::string f = e.zfile("ext.5am.cloud", "external");
  REQUIRE(fs::exists(f));
  e.wil.records["ext.5am.cloud"].erase("external");
  auto r = testing::converge(*e.provider, e.wil.resources());
  CHECK(r.failures.empty());
  CHECK(r.plans["zone/ext.5am.cloud@external"].action == Action::Delete);
  CHECK(r.plans["dnsconf/local"].action == Action::Update);
  CHECK_FALSE(fs::exists(f));
  CHECK_FALSE(fs::exists(f + ".prev"));
  CHECK(slurp(e.wil.confDir + "/named.conf.tend").find("zones/external/ext.5am.cloud.zone") ==
        std::string::npos);
  // An unmarked file in the zones dir is never reported for prune.
  { std::ofstream(e.zfile("other.test", "external")) << "$TTL 60\n"; }
  ObserveRequest req;
  auto obs = e.provider->observe(req);
  CHECK(obs.observed.count("dnsconf/local"));
  for (const auto& [id, o] : obs.observed) CHECK(o.owned);
  CHECK(fs::exists(e.zfile("other.test", "external")));
}

TEST_CASE("a fragment named-checkconf rejects never replaces the old one", "[bind9][provider]") {
  Env e;
  testing::converge(*e.provider, e.wil.resources());
  std::string f = e.wil.confDir + "/named.conf.tend";
  std::string before = slurp(f);
  // A view naming a zone whose file does not exist: named-checkconf -z refuses it.
  auto desired = e.wil.resources();
  auto& conf = desired.back();
  conf.spec["views"][1]["zones"].push_back("missing.test");
  testing::rehash(conf);
  auto r = testing::converge(*e.provider, desired);
  REQUIRE(r.failures.count("dnsconf/local"));
  CHECK(r.failures["dnsconf/local"].find("named-checkconf rejected") != std::string::npos);
  CHECK(r.failures["dnsconf/local"].find("missing.test") != std::string::npos);
  CHECK(slurp(f) == before);
}

TEST_CASE("zones applied concurrently are checked together and a bad one fails alone",
          "[bind9][provider]") {
  Env e;
  e.wil.records["5am.cloud"]["external"].push_back(testing::rec("@", "CNAME", "x.test."));
  e.wil.records["sfc.al"]["internal"].push_back(testing::rec("bad..name", "A", "10.2.20.98"));
  auto desired = e.wil.resources();
  desired.pop_back();  // zones only
  std::vector<ApplyResponse> out(desired.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < desired.size(); ++i)
    threads.emplace_back([&, i] {
      ApplyRequest req;
      req.action.id = desired[i].id;
      req.action.kind = "zone";
      req.action.action = Action::Create;
      req.desired = &desired[i];
      out[i] = e.provider->apply(req);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < desired.size(); ++i) {
    INFO(desired[i].id << ": " << out[i].message);
    bool zoneFile = fs::exists(e.zfile(desired[i].spec["zone"], desired[i].spec["view"]));
    if (desired[i].id == "zone/5am.cloud@external") {
      CHECK(out[i].outcome == Outcome::Failed);
      CHECK(out[i].message.find("CNAME and other data") != std::string::npos);
      CHECK_FALSE(zoneFile);
    } else if (desired[i].id == "zone/sfc.al@internal") {
      CHECK(out[i].outcome == Outcome::Failed);
      CHECK(out[i].message.find("empty label") != std::string::npos);
      CHECK_FALSE(zoneFile);
    } else {
      CHECK(out[i].outcome == Outcome::Ok);
      CHECK(zoneFile);
    }
  }
}

namespace {
class OneSecret final : public SecretResolver {
 public:
  std::vector<std::string> names() const override { return {"dkim"}; }
  Result<SecretString> get(const std::string& name) const override {
    if (name == "dkim") return SecretString("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0B");
    return makeError("no secret " + name);
  }
};
}  // namespace

TEST_CASE("record values naming a secret are substituted at apply, the hash stays symbolic",
          "[bind9][provider]") {
  Env e;
  e.wil.records["sfc.al"]["internal"].push_back(
      testing::rec("mail._domainkey", "TXT", "${secret:dkim}"));
  auto desired = e.wil.resources();
  const DesiredResource* z = nullptr;
  for (const auto& d : desired)
    if (d.id == "zone/sfc.al@internal") z = &d;
  REQUIRE(z);
  OneSecret secrets;
  ApplyRequest req;
  req.action.id = z->id;
  req.action.kind = "zone";
  req.action.action = Action::Create;
  req.desired = z;
  auto noSecrets = e.provider->apply(req);
  CHECK(noSecrets.outcome == Outcome::Failed);
  req.ctx.secrets = &secrets;
  auto r = e.provider->apply(req);
  INFO(r.message);
  REQUIRE(r.outcome == Outcome::Ok);
  CHECK(r.message.find("DKIM1") == std::string::npos);
  CHECK(slurp(e.zfile("sfc.al", "internal")).find("\"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0B\"") !=
        std::string::npos);
  ObserveRequest oreq;
  oreq.desired = {z};
  auto obs = e.provider->observe(oreq);
  REQUIRE(obs.observed.count(z->id));
  CHECK(e.provider->plan({z, &obs.observed[z->id]}).action == Action::Noop);
}

TEST_CASE("a marked bootstrap fragment (deploy/quickstart.sh) is owned and replaced",
          "[bind9][provider]") {
  Env e;
  fs::create_directories(e.wil.confDir);
  std::string f = e.wil.confDir + "/named.conf.tend";
  {
    std::ofstream(f)
        << "// managed by tend: resource dnsconf/local (bootstrap, empty until the first pass)\n";
  }
  auto r = testing::converge(*e.provider, e.wil.resources());
  INFO(json(r.failures).dump());
  CHECK(r.failures.empty());
  CHECK(r.plans["dnsconf/local"].action == Action::Update);
  CHECK_FALSE(r.plans["dnsconf/local"].conflict);
  CHECK(slurp(f).find("view \"internal\"") != std::string::npos);
}
