// The Proxmox provider against the API emulator on loopback: the conformance suite (with a
// restart in the middle of a clone), the 8 VMs of specs/wil through the engine (parallelism 2,
// a no-op pass without writes, drift corrected, a VM recreated, a disk shrink refused), a clone
// failing in its exitstatus, a bad token, a wrong TLS pin, and a hanging API that holds up
// only the VMs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/engine.h"
#include "core/provider_plan.h"
#include "providers/proxmox/proxmox_registration.h"
#include "providers/proxmox/wire.h"
#include "tests/providers/proxmox/emulator_fixture.h"
#include "tests/support/memory_provider.h"
#include "tests/support/memory_state_store.h"
#include "tests/support/provider_conformance.h"
#include "tests/support/spec_load.h"

using namespace tend;
using tend::testing::PveEmulator;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kImage = "https://images.example/noble-server-cloudimg-amd64.img";
constexpr const char* kImageSha = "4f1b2c0e6d0f3a5b8c9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b";

json providerConfig(const PveEmulator& emu, const std::string& node = "pve") {
  return {{"endpoint", "https://127.0.0.1:" + std::to_string(emu.port)},
          {"node", node},
          {"token_id", tend::testing::kPveTokenId},
          {"token_secret", tend::testing::kPveTokenSecret},
          {"tls", {{"fingerprint", emu.fingerprint}}},
          {"storage", "local-lvm"},
          {"bridge", "vmbr0"},
          {"ciuser", "tend"},
          {"ssh_keys", {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkq8T7c1uYh0sOe4l5eX2h0m8c3y8w9YcZ0f6hXbq tend@ci"}},
          {"agent_timeout", 20}};
}

std::unique_ptr<Provider> makeProvider(json cfg, int parallelism = 2) {
  ProviderConfig pc;
  cfg["_reconcile_parallelism"] = parallelism;
  pc.config = std::move(cfg);
  pc.environment = "conformance";
  auto p = proxmox::makeProxmoxProvider(pc);
  REQUIRE(p.ok());
  return std::move(p).value();
}

DesiredResource templateRes(int vmid = 9000) {
  DesiredResource r;
  r.id = "template/base";
  r.kind = "template";
  r.provider = "proxmox";
  r.spec = {{"name", "base"}, {"vmid", vmid}, {"image_url", kImage}, {"sha256", kImageSha},
            {"cores", 2},     {"memory", 2048}, {"environment", "conformance"}};
  r.hash = "tmpl-1";
  return r;
}

DesiredResource vmRes(const std::string& name, int vmid, const std::string& ip, int templ = 9000) {
  DesiredResource r;
  r.id = "vm/" + name;
  r.kind = "vm";
  r.provider = "proxmox";
  r.host = name;
  r.spec = {{"name", name},       {"vmid", vmid},        {"ip", ip},          {"prefix", 24},
            {"template", templ},  {"cores", 2},          {"memory", 2048},    {"disk", "8G"},
            {"tags", {"web"}},    {"onboot", true},      {"gateway", "127.0.20.1"},
            {"nameservers", {"127.0.20.53"}},           {"environment", "conformance"}};
  r.dependsOn = {"template/base"};
  r.hash = "vm-" + name + "-1";
  return r;
}

void registerImage(const PveEmulator& emu) {
  emu.admin("POST", "/images", {{"url", kImage}, {"sha256", kImageSha}, {"size", 2u << 30}});
}

int counter(const PveEmulator& emu, const std::string& key) {
  auto c = emu.admin("GET", "/counters");
  if (!c.is_object()) return -1;
  return c["requests"].value(key, 0);
}

// Drives one resource as the engine would (observe, plan, apply with the private data) until
// it settles; returns the last apply answer.
ApplyResponse converge(Provider& p, const DesiredResource& r, json& priv, int maxPasses = 80) {
  ApplyResponse last;
  for (int i = 0; i < maxPasses; ++i) {
    ObserveRequest oreq;
    oreq.desired = {&r};
    oreq.includeOwned = false;
    oreq.ctx = tend::testing::conformanceContext();
    if (!priv.is_null()) oreq.privateData[r.id] = priv;
    auto o = p.observe(oreq);
    REQUIRE_FALSE(o.scopeError.has_value());
    auto it = o.observed.find(r.id);
    const ObservedResource* obs = it == o.observed.end() ? nullptr : &it->second;
    PlanRequest pr{&r, obs};
    if (!priv.is_null()) pr.privateData = &priv;
    auto pl = p.plan(pr);
    if (pl.action == Action::Noop && obs && obs->ready) {
      last.outcome = Outcome::Ok;  // settled: ready and nothing to do
      return last;
    }
    if (pl.action == Action::Noop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    ApplyRequest ar{pl, &r, obs, tend::testing::conformanceContext()};
    ar.privateData = priv;
    last = p.apply(ar);
    if (!last.privateData.is_null()) priv = last.privateData;
    if (last.outcome == Outcome::Failed) return last;
    if (last.outcome != Outcome::Ok) std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  return last;
}

}  // namespace

#define START_EMULATOR(emu, ...)      \
  PveEmulator emu{__VA_ARGS__};       \
  if (!emu.started()) FAIL(emu.error)

// A provider on `emu` whose template (templateRes) is converged: the start of every VM case.
std::unique_ptr<Provider> providerWithTemplate(const PveEmulator& emu) {
  registerImage(emu);
  auto p = makeProvider(providerConfig(emu));
  json tp;
  REQUIRE(converge(*p, templateRes(), tp).outcome == Outcome::Ok);
  return p;
}

TEST_CASE("proxmox provider passes the conformance suite (restart in the middle of a clone)",
          "[proxmox][provider][conformance]") {
  START_EMULATOR(emu);
  registerImage(emu);
  auto p = makeProvider(providerConfig(emu));
  auto tmpl = templateRes();
  auto vm = vmRes("web", 1000, "127.0.20.45");
  tend::testing::ConformanceOptions o;
  o.pollInterval = std::chrono::milliseconds(200);
  o.maxPolls = 60;
  o.restart = [&] { return makeProvider(providerConfig(emu)); };
  o.changed = [](const DesiredResource& r) {
    DesiredResource c = r;
    if (c.kind == "vm") c.spec["memory"] = 3072;
    else c.spec["cores"] = 4;
    c.hash += "-changed";
    return c;
  };
  o.createUnowned = [&](const DesiredResource& r) {
    int vmid = r.spec["vmid"];
    emu.admin("PUT", "/vms/" + std::to_string(vmid),
              {{"config", {{"name", "someone-else"}, {"memory", "1024"}, {"description", "not ours"}}}});
  };
  o.removeUnowned = [&](const DesiredResource& r) {
    emu.admin("DELETE", "/vms/" + std::to_string(r.spec["vmid"].get<int>()));
  };
  o.makeBusy = [&](const DesiredResource& r) {
    emu.admin("POST", "/vms/" + std::to_string(r.spec["vmid"].get<int>()), {{"set", {{"lock", "backup"}}}});
  };
  o.clearBusy = [&](const DesiredResource& r) {
    emu.admin("POST", "/vms/" + std::to_string(r.spec["vmid"].get<int>()), {{"delete", {"lock"}}});
  };
  o.breakScope = [&](const DesiredResource&) {
    emu.admin("POST", "/faults", {{"path", "/cluster/resources"}, {"status", 503}, {"message", "pveproxy overloaded"}});
  };
  o.restoreScope = [&](const DesiredResource&) { emu.admin("DELETE", "/faults"); };
  o.blockingCall = [&](const CallContext& ctx) {
    emu.admin("POST", "/faults", {{"path", "/cluster/resources"}, {"kind", "hang"}, {"count", 1}});
    ObserveRequest req;
    req.ctx = ctx;
    p->observe(req);
    emu.admin("DELETE", "/faults");
  };
  // A clone of 2 s followed across passes, with a restart of the provider after the first.
  auto slow = vmRes("slow", 1001, "127.0.20.46");
  o.progressingSample = slow;
  o.operationsStarted = [&] { return counter(emu, "POST /nodes/{node}/qemu/{vmid}/clone"); };
  o.advance = [] { std::this_thread::sleep_for(std::chrono::milliseconds(250)); };
  o.maxPasses = 80;
  // Slow clones only for the progressing sample (set when it starts: after the others).
  auto clockOps = o.operationsStarted;
  o.operationsStarted = [&, clockOps] {
    emu.admin("POST", "/settings", {{"task_seconds", {{"qmclone", 2}}}});
    return clockOps();
  };
  tend::testing::runProviderConformance(*p, {tmpl, vm}, tend::testing::conformanceContext(), o);
}

TEST_CASE("proxmox template: image downloaded with its checksum, VM with cloud-init drive and agent, template",
          "[proxmox][provider]") {
  START_EMULATOR(emu);
  registerImage(emu);
  auto p = makeProvider(providerConfig(emu));
  auto t = templateRes();
  json priv;
  auto r = converge(*p, t, priv);
  INFO(r.message);
  REQUIRE(r.outcome == Outcome::Ok);
  auto v = emu.admin("GET", "/vms/9000");
  CHECK(v["config"]["template"] == "1");
  CHECK(v["config"]["agent"] == "1");
  CHECK(v["config"]["ide2"].get<std::string>().find("cloudinit") != std::string::npos);
  CHECK(v["config"]["scsi0"].get<std::string>().find("base-9000-disk-0") != std::string::npos);
  CHECK(v["config"]["tags"] == "tend");
  // Present: nothing is downloaded again.
  int downloads = counter(emu, "POST /nodes/{node}/storage/{storage}/download-url");
  priv = nullptr;
  r = converge(*p, t, priv);
  CHECK(counter(emu, "POST /nodes/{node}/storage/{storage}/download-url") == downloads);

  // A wrong checksum fails with the task's error.
  auto bad = templateRes(9001);
  bad.id = "template/bad";
  bad.spec["name"] = "bad";
  bad.spec["sha256"] = std::string(64, 'a');
  json p2;
  auto rb = converge(*p, bad, p2);
  CHECK(rb.outcome == Outcome::Failed);
  CHECK(rb.message.find("checksum mismatch") != std::string::npos);
}

TEST_CASE("proxmox vm: failing clone task, restart manual or auto, agent wait, bad token, wrong pin",
          "[proxmox][provider]") {
  START_EMULATOR(emu);
  auto p = providerWithTemplate(emu);

  SECTION("clone fails in its exitstatus") {
    emu.admin("POST", "/task-faults",
              {{"type", "qmclone"}, {"exitstatus", "clone failed: storage 'local-lvm' is out of space"}, {"count", 1}});
    auto vm = vmRes("web", 1000, "127.0.20.45");
    json priv;
    auto r = converge(*p, vm, priv);
    CHECK(r.outcome == Outcome::Failed);
    CHECK(r.message.find("storage 'local-lvm' is out of space") != std::string::npos);
    CHECK_FALSE(r.terminal);
    // The next pass clones again and converges.
    auto r2 = converge(*p, vm, priv);
    INFO(r2.message);
    CHECK(r2.outcome == Outcome::Ok);
  }
  SECTION("restart: manual leaves a change that needs a reboot pending; auto reboots") {
    auto cfg = providerConfig(emu);
    cfg["restart"] = "manual";
    auto manual = makeProvider(cfg);
    auto vm = vmRes("web", 1000, "127.0.20.45");
    json priv;
    REQUIRE(converge(*manual, vm, priv).outcome == Outcome::Ok);
    auto bigger = vm;
    bigger.spec["memory"] = 4096;
    bigger.hash += "-mem";
    auto r = converge(*manual, bigger, priv);
    INFO(r.message);
    CHECK(r.outcome == Outcome::Ok);
    CHECK(r.message.find("pending a reboot") != std::string::npos);
    auto v = emu.admin("GET", "/vms/1000");
    CHECK(v["pending"]["memory"] == "4096");
    CHECK(v["config"]["memory"] == "2048");
    // A pass later: ready, nothing written, the pending change named in the status.
    emu.admin("POST", "/counters/reset");
    ObserveRequest oreq;
    oreq.desired = {&bigger};
    oreq.ctx = tend::testing::conformanceContext();
    auto o = manual->observe(oreq);
    auto& ob = o.observed.at(bigger.id);
    CHECK(ob.ready);
    CHECK(ob.message.find("pending a reboot: memory 2048 -> 4096 (restart: manual)") != std::string::npos);
    CHECK(manual->plan(PlanRequest{&bigger, &ob}).action == Action::Noop);
    CHECK(emu.admin("GET", "/counters")["writes"] == 0);
    // restart: auto reboots it into the change.
    auto r2 = converge(*p, bigger, priv);
    INFO(r2.message);
    CHECK(r2.outcome == Outcome::Ok);
    v = emu.admin("GET", "/vms/1000");
    CHECK(v["config"]["memory"] == "4096");
    CHECK(v["pending"].empty());
  }
  SECTION("ready waits for the guest agent, then fails with the reason") {
    emu.admin("POST", "/settings", {{"agent_delay", 3600}});
    auto cfg = providerConfig(emu);
    cfg["agent_timeout"] = 1;
    auto slowAgent = makeProvider(cfg);
    auto vm = vmRes("web", 1000, "127.0.20.45");
    json priv;
    auto r = converge(*slowAgent, vm, priv, 6);
    CHECK(r.outcome == Outcome::Progressing);
    ObserveRequest oreq;
    oreq.desired = {&vm};
    oreq.ctx = tend::testing::conformanceContext();
    auto o = slowAgent->observe(oreq);
    CHECK(o.observed.at(vm.id).message.find("waiting for the guest agent to report 127.0.20.45") != std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    o = slowAgent->observe(oreq);
    auto& ob = o.observed.at(vm.id);
    CHECK_FALSE(ob.ready);
    CHECK(ob.failed);
    CHECK(ob.message.find("the guest agent did not report 127.0.20.45 within 1s") != std::string::npos);
    CHECK(ob.message.find("QEMU guest agent is not running") != std::string::npos);
  }
  SECTION("a bad token is a clear auth error without the secret") {
    emu.admin("POST", "/settings", {{"auth_delay", 0}});
    auto cfg = providerConfig(emu);
    cfg["token_secret"] = "wrong-secret-value-0123";
    auto bad = makeProvider(cfg);
    ObserveRequest req;
    req.ctx = tend::testing::conformanceContext();
    auto resp = bad->observe(req);
    REQUIRE(resp.scopeError.has_value());
    CHECK(resp.scopeError->message.find("authentication") != std::string::npos);
    CHECK(resp.scopeError->message.find("token_secret") != std::string::npos);
    CHECK(resp.scopeError->message.find("wrong-secret-value-0123") == std::string::npos);
  }
  SECTION("a wrong TLS pin is refused before any request is sent") {
    emu.admin("POST", "/counters/reset");
    auto cfg = providerConfig(emu);
    std::string fp;
    for (int i = 0; i < 32; ++i) fp += std::string(i ? ":" : "") + "AB";
    cfg["tls"]["fingerprint"] = fp;
    auto bad = makeProvider(cfg);
    ObserveRequest req;
    req.ctx = tend::testing::conformanceContext();
    auto resp = bad->observe(req);
    REQUIRE(resp.scopeError.has_value());
    CHECK(resp.scopeError->message.find("fingerprint") != std::string::npos);
    CHECK(emu.admin("GET", "/counters")["total"] == 0);
  }
}

namespace {

// Observe, plan and apply `r` until an apply answers with a task of `op` in its private data
// (the task just started); returns that private data.
json applyUntilTask(Provider& p, const DesiredResource& r, const std::string& op) {
  json priv;
  for (int i = 0; i < 80; ++i) {
    ObserveRequest oreq;
    oreq.desired = {&r};
    oreq.ctx = tend::testing::conformanceContext();
    if (!priv.is_null()) oreq.privateData[r.id] = priv;
    auto o = p.observe(oreq);
    auto it = o.observed.find(r.id);
    const ObservedResource* obs = it == o.observed.end() ? nullptr : &it->second;
    PlanRequest pr{&r, obs};
    if (!priv.is_null()) pr.privateData = &priv;
    auto pl = p.plan(pr);
    if (pl.action != Action::Noop) {
      ApplyRequest ar{pl, &r, obs, tend::testing::conformanceContext()};
      ar.privateData = priv;
      auto a = p.apply(ar);
      if (!a.privateData.is_null()) priv = a.privateData;
      if (priv.is_object() && priv.contains("task") && priv["task"].value("op", "") == op) return priv;
      REQUIRE(a.outcome != Outcome::Failed);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("no " << op << " task was started");
  return priv;
}

}  // namespace

TEST_CASE("proxmox: a clone or create whose UPID tend never recorded (killed right after the POST) is waited "
          "for, not taken for a conflict, and not started again, and one whose VM left the spec meanwhile is deleted",
          "[proxmox][provider][restart]") {
  START_EMULATOR(emu);
  auto p = providerWithTemplate(emu);
  emu.admin("POST", "/settings", {{"task_seconds", {{"qmclone", 2}, {"qmcreate", 2}}}});
  const std::string clones = "POST /nodes/{node}/qemu/{vmid}/clone", creates = "POST /nodes/{node}/qemu";

  // Seen from a provider that starts afresh with no private data: the VM being made carries
  // only `lock: clone|create` (the task writes its config when it ends).
  auto afterRestart = [&](const DesiredResource& r, const std::string& lock) {
    auto fresh = makeProvider(providerConfig(emu));
    ObserveRequest oreq;
    oreq.desired = {&r};
    oreq.ctx = tend::testing::conformanceContext();
    auto o = fresh->observe(oreq);
    REQUIRE(o.observed.count(r.id));
    const auto& ob = o.observed.at(r.id);
    INFO(ob.message);
    CHECK(ob.exists);
    CHECK_FALSE(ob.ready);
    CHECK_FALSE(ob.failed);
    CHECK(ob.message.find("is being " + std::string(lock == "clone" ? "cloned" : "created") + " (lock: " + lock +
                          ")") != std::string::npos);
    auto pl = fresh->plan(PlanRequest{&r, &ob});
    CHECK_FALSE(pl.conflict);
    CHECK(pl.action == Action::Noop);
    // Applied anyway (a plan from an older observation): busy, nothing written.
    PlannedAction upd = pl;
    upd.action = Action::Update;
    emu.admin("POST", "/counters/reset");
    auto a = fresh->apply(ApplyRequest{upd, &r, &ob, tend::testing::conformanceContext()});
    INFO(a.message);
    CHECK(a.outcome == Outcome::Busy);
    CHECK(emu.admin("GET", "/counters")["writes"] == 0);
    return fresh;
  };
  // The task started by a provider that then dies (its private data lost with the process),
  // seen and converged by a fresh one: done once, never started again.
  auto resumedAfterRestart = [&](const DesiredResource& r, int vmid, const std::string& lock,
                                 const std::string& startCall) {
    applyUntilTask(*p, r, lock);
    REQUIRE(emu.admin("GET", "/vms/" + std::to_string(vmid))["config"] == json{{"lock", lock}});
    auto fresh = afterRestart(r, lock);
    json priv;
    auto res = converge(*fresh, r, priv);
    INFO(res.message);
    CHECK(res.outcome == Outcome::Ok);
    CHECK(emu.admin("GET", "/counters")["requests"].value(startCall, 0) == 0);  // since the reset: none again
  };

  SECTION("a clone") {
    resumedAfterRestart(vmRes("web", 1000, "127.0.20.45"), 1000, "clone", clones);
    CHECK(emu.admin("GET", "/vms/1000")["status"] == "running");
  }
  SECTION("a template's create") {
    auto t = templateRes(9001);
    t.id = "template/other";
    t.spec["name"] = "other";
    resumedAfterRestart(t, 9001, "create", creates);
    CHECK(emu.admin("GET", "/vms/9001")["config"]["template"] == "1");
  }
  SECTION("a clone whose VM left the spec while it ran (UPID recorded) is deleted once it ends") {
    auto vm = vmRes("web", 1000, "127.0.20.45");
    json priv = applyUntilTask(*p, vm, "clone");
    auto fresh = makeProvider(providerConfig(emu));
    // The owned listing of a pass whose spec no longer has vm/web, with the record's private
    // data (core/provider.h: ObserveRequest::privateData).
    auto listing = [&] {
      ObserveRequest oreq;
      oreq.includeOwned = true;
      oreq.privateData["vm/web"] = priv;
      oreq.ctx = tend::testing::conformanceContext();
      return fresh->observe(oreq);
    };
    auto o = listing();
    REQUIRE(o.observed.count("vm/web"));
    auto ob = o.observed.at("vm/web");
    INFO(ob.message);
    CHECK(ob.exists);
    CHECK(ob.owned);
    CHECK(ob.message.find("deleted once that task ends") != std::string::npos);
    auto pl = fresh->plan(PlanRequest{nullptr, &ob});
    REQUIRE(pl.action == Action::Delete);
    auto a = fresh->apply(ApplyRequest{pl, nullptr, &ob, tend::testing::conformanceContext()});
    INFO(a.message);
    CHECK(a.outcome == Outcome::Busy);
    // The clone ends; the prune goes on until the VM is gone.
    bool gone = false;
    for (int i = 0; i < 60 && !gone; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      o = listing();
      if (!o.observed.count("vm/web")) {
        gone = true;
        break;
      }
      ob = o.observed.at("vm/web");
      pl = fresh->plan(PlanRequest{nullptr, &ob});
      if (pl.action == Action::Delete) fresh->apply(ApplyRequest{pl, nullptr, &ob, tend::testing::conformanceContext()});
    }
    CHECK(gone);
    CHECK(emu.admin("GET", "/vms").count("1000") == 0);
    CHECK(emu.admin("GET", "/counters")["requests"].value(clones, 0) == 1);
  }
  SECTION("someone else's clone into the vmid is a conflict once it ends") {
    auto vm = vmRes("web", 1000, "127.0.20.45");
    auto other = vmRes("web", 1000, "127.0.20.45");
    other.id = "vm/other";  // its mark names another resource
    applyUntilTask(*p, other, "clone");
    afterRestart(vm, "clone");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    ObserveRequest oreq;
    oreq.desired = {&vm};
    oreq.ctx = tend::testing::conformanceContext();
    auto o = p->observe(oreq);
    const auto& ob = o.observed.at(vm.id);
    CHECK_FALSE(ob.owned);
    CHECK(p->plan(PlanRequest{&vm, &ob}).conflict);
  }
}

namespace {

// specs/wil copied with its addresses on loopback and providers.proxmox pointing at `emu`.
std::string wilCopy(const PveEmulator& emu) {
  fs::path src = fs::path(TEND_SOURCE_DIR) / "specs" / "wil";
  fs::path dst = fs::path(emu.dir) / "wil";
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    if (!e.is_regular_file()) {
      fs::copy(e.path(), dst / e.path().filename(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      continue;
    }
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    text = std::regex_replace(text, std::regex(R"(10\.2\.20\.)"), "127.0.20.");
    if (e.path().filename() == "environment.yml") {
      text = std::regex_replace(text, std::regex(R"(endpoint: https://127\.0\.20\.7:8006)"),
                                "endpoint: https://127.0.0.1:" + std::to_string(emu.port));
      text = std::regex_replace(text, std::regex(R"(tls: \{ ca_file: [^}]*\})"),
                                "tls: { fingerprint: \"" + emu.fingerprint + "\" }");
      text = std::regex_replace(text, std::regex(R"(token_id: tend@pve!reconciler)"),
                                std::string("token_id: ") + tend::testing::kPveTokenId);
      text = std::regex_replace(text, std::regex(R"(token_secret: \$\{secret:proxmox_token_secret\})"),
                                std::string("token_secret: ") + tend::testing::kPveTokenSecret);
    }
    std::ofstream(dst / e.path().filename()) << text;
  }
  return dst.string();
}

struct WilRig {
  PveEmulator& emu;
  tend::testing::MemoryStateStore store;
  tend::testing::MemoryProvider other{"memory"};
  std::unique_ptr<Provider> prox;
  std::unique_ptr<Engine> engine;
  DesiredGraphPtr graph;

  explicit WilRig(PveEmulator& e) : emu(e) {}

  void load(bool withOther = false) {
    auto lr = tend::test::loadSpec(wilCopy(emu));
    for (const auto& d : lr.diagnostics) INFO(d.loc.str() << ": " << d.message);
    REQUIRE(lr.ok());
    auto g = std::make_shared<DesiredGraph>(*lr.graph);
    std::vector<DesiredResource> keep;
    for (const auto& r : g->resources)
      if (r.provider == "proxmox") keep.push_back(r);
    if (withOther) {
      DesiredResource z;
      z.id = "zone/wil.5am.cloud@internal";
      z.kind = "zone";
      z.provider = "memory";
      z.spec = {{"version", "1"}};
      z.hash = "zone-1";
      keep.push_back(z);
    }
    // Dependencies on what was left out (hosts, apps of earlier tiers) are dropped.
    std::set<std::string> ids;
    for (const auto& r : keep) ids.insert(r.id);
    for (auto& r : keep) {
      std::vector<std::string> deps;
      for (const auto& dep : r.dependsOn)
        if (ids.count(dep)) deps.push_back(dep);
      r.dependsOn = std::move(deps);
    }
    g->resources = std::move(keep);
    g->reindex();
    graph = g;
    ProviderConfig pc;
    pc.config = g->providerConfigs.at("proxmox");
    pc.config["_reconcile_parallelism"] = g->parallelism.count("proxmox") ? g->parallelism.at("proxmox") : 0;
    pc.environment = g->environment;
    auto p = proxmox::makeProxmoxProvider(pc);
    REQUIRE(p.ok());
    prox = std::move(p).value();
    EngineDeps d;
    d.state = &store;
    d.providerFor = [this](const std::string& n) -> Provider* {
      if (n == "proxmox") return prox.get();
      if (n == "memory") return &other;
      return nullptr;
    };
    d.pruneRank = [](const std::string& kind) { return kind == "vm" ? 5 : kind == "template" ? 6 : 0; };
    EngineOptions o;
    o.workers = 4;
    o.globalRatePerSecond = 0;
    o.backoffBase = std::chrono::milliseconds(100);
    o.backoffCap = std::chrono::milliseconds(500);
    o.recheckInterval = std::chrono::milliseconds(300);
    o.runTimeout = std::chrono::seconds(90);
    engine = makeEngine(d, o);
    engine->setDesired(graph);
  }
  RunResult run() { return engine->run(RunRequest{}); }
  ResourceStatus status(const std::string& id) {
    for (auto& s : engine->status())
      if (s.id == id) return s;
    return ResourceStatus{};
  }
};

const std::vector<std::pair<std::string, int>> kWilVms = {
    {"networking", 1000}, {"ca", 1003}, {"ntp", 1002}, {"monitoring", 1107},
    {"games", 1111},      {"web", 1109}, {"work", 1112}, {"seafile", 1113}};

}  // namespace

TEST_CASE("proxmox: the 8 VMs of specs/wil converge with parallelism 2, a no-op pass writes nothing, "
          "drift corrected, a deleted VM recreated, a disk shrink refused",
          "[proxmox][provider][wil]") {
  START_EMULATOR(emu, {"--nodes", "proxmox", "--task-seconds", "0.3"});
  emu.admin("POST", "/images",
            {{"url", "https://cloud-images.ubuntu.com/releases/noble/release-20250805/ubuntu-24.04-server-cloudimg-amd64.img"},
             {"size", 3u << 30}});
  WilRig rig(emu);
  rig.load();
  REQUIRE(rig.graph->resources.size() == 9);

  auto r1 = rig.run();
  INFO(r1.result);
  for (auto& s : rig.engine->status()) UNSCOPED_INFO(s.id << ": " << s.phase << " " << s.message);
  REQUIRE(r1.failed == 0);
  for (const auto& [name, vmid] : kWilVms) {
    INFO(name);
    CHECK(rig.status("vm/" + name).phase == "ready");
    auto v = emu.admin("GET", "/vms/" + std::to_string(vmid));
    CHECK(v["status"] == "running");
    CHECK(v["config"]["tags"].get<std::string>().find("tend") != std::string::npos);
    CHECK(v["config"]["description"].get<std::string>().find("io.tend.resource=vm/" + name) != std::string::npos);
  }
  auto v = emu.admin("GET", "/vms/1112");
  CHECK(v["config"]["memory"] == "8192");
  CHECK(v["config"]["cores"] == "4");
  CHECK(v["config"]["ipconfig0"] == "ip=127.0.20.60/24,gw=127.0.20.1");
  CHECK(v["config"]["nameserver"] == "127.0.20.53");
  CHECK(v["config"]["scsi0"].get<std::string>().find("size=256G") != std::string::npos);
  CHECK(v["config"]["onboot"] == "1");
  auto counters = emu.admin("GET", "/counters");
  INFO(counters.dump());
  CHECK(counters["max_running"].value("qmclone", 0) <= 2);
  CHECK(counters["max_running"].value("qmclone", 0) >= 1);

  // A pass over the converged site: one cluster read, nothing written.
  emu.admin("POST", "/counters/reset");
  auto r2 = rig.run();
  CHECK(r2.failed == 0);
  counters = emu.admin("GET", "/counters");
  INFO(counters.dump());
  CHECK(counters["writes"] == 0);
  CHECK(counters["requests"].value("GET /cluster/resources", 0) == 1);
  CHECK(counters["total"] == 1);

  // Memory changed behind tend's back: corrected (and rebooted into it: restart auto).
  emu.admin("POST", "/vms/1109", {{"set", {{"memory", "2048"}}}});
  auto r3 = rig.run();
  CHECK(r3.failed == 0);
  v = emu.admin("GET", "/vms/1109");
  CHECK(v["config"]["memory"] == "4096");
  CHECK(v["pending"].empty());

  // Deleted behind its back: cloned again.
  emu.admin("DELETE", "/vms/1113");
  auto r4 = rig.run();
  CHECK(r4.failed == 0);
  v = emu.admin("GET", "/vms/1113");
  CHECK(v["status"] == "running");
  CHECK(rig.status("vm/seafile").phase == "ready");

  // A disk shrink: refused with a clear error, nothing sent.
  auto g = std::make_shared<DesiredGraph>(*rig.graph);
  for (auto& r : g->resources)
    if (r.id == "vm/work") {
      r.spec["disk"] = "100G";
      r.hash += "-shrink";
    }
  g->reindex();
  rig.engine->setDesired(g);
  emu.admin("POST", "/counters/reset");
  auto r5 = rig.run();
  CHECK(r5.failed == 1);
  auto st = rig.status("vm/work");
  CHECK(st.phase == "failed");
  CHECK(st.message.find("cannot shrink") != std::string::npos);
  counters = emu.admin("GET", "/counters");
  CHECK(counters["writes"] == 0);
  CHECK(emu.admin("GET", "/vms/1112")["config"]["scsi0"].get<std::string>().find("size=256G") != std::string::npos);
}

TEST_CASE("proxmox: the API hanging holds up only the VMs while the rest of the site converges",
          "[proxmox][provider][wil]") {
  START_EMULATOR(emu, {"--nodes", "proxmox"});
  WilRig rig(emu);
  rig.load(true);
  emu.admin("POST", "/faults", {{"path", "/cluster/resources"}, {"kind", "hang"}, {"seconds", 30}});
  std::atomic<bool> done{false};
  rig.engine->start(RunRequest{}, [&](const RunResult&) { done = true; });
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until && rig.status("zone/wil.5am.cloud@internal").phase != "ready")
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(rig.status("zone/wil.5am.cloud@internal").phase == "ready");
  CHECK(rig.status("vm/web").phase != "ready");
  CHECK_FALSE(done.load());
  rig.engine->cancel();
  emu.admin("DELETE", "/faults");
  rig.engine->drain(std::chrono::seconds(10));
}

TEST_CASE("proxmox vm: description, ciuser, ssh_keys, searchdomain and restart per VM over providers.proxmox, and "
          "a cloud-init change stays pending with restart: manual, across a restart of the provider",
          "[proxmox][provider]") {
  START_EMULATOR(emu);
  auto p = providerWithTemplate(emu);  // providers.proxmox: restart auto, ciuser tend
  auto vm = vmRes("web", 1000, "127.0.20.45");
  const std::string key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPerVmKeyForTheWebVmOnly0123456789abcd web@example";
  vm.spec["description"] = "Web server\nowned by the ops team";
  vm.spec["ciuser"] = "webadmin";
  vm.spec["ssh_keys"] = {key};
  vm.spec["searchdomain"] = "web.example.test";
  vm.spec["restart"] = "manual";
  json priv;
  auto r = converge(*p, vm, priv);
  INFO(r.message);
  REQUIRE(r.outcome == Outcome::Ok);
  auto v = emu.admin("GET", "/vms/1000");
  std::string desc = v["config"]["description"];
  CHECK(desc.rfind("Web server\nowned by the ops team\n", 0) == 0);
  CHECK(desc.find("tend: io.tend.resource=vm/web") != std::string::npos);
  CHECK(v["config"]["ciuser"] == "webadmin");
  CHECK(v["config"]["searchdomain"] == "web.example.test");
  CHECK(tend::proxmox::percentDecode(v["config"]["sshkeys"].get<std::string>()).find(key) != std::string::npos);

  // A cloud-init change on the running VM: written, pending a reboot (restart: manual).
  int reboots = counter(emu, "POST /nodes/{node}/qemu/{vmid}/status/reboot");
  auto changed = vm;
  changed.spec["ciuser"] = "ops";
  changed.hash += "-ciuser";
  r = converge(*p, changed, priv);
  INFO(r.message);
  CHECK(r.outcome == Outcome::Ok);
  CHECK(r.message.find("pending a reboot (ciuser; restart: manual)") != std::string::npos);
  CHECK(emu.admin("GET", "/vms/1000")["config"]["ciuser"] == "ops");
  CHECK(counter(emu, "POST /nodes/{node}/qemu/{vmid}/status/reboot") == reboots);
  REQUIRE(priv.contains("pending_reboot"));

  // A new provider (tendd restarted) with the stored private data still sees it pending, and
  // writes nothing.
  auto again = makeProvider(providerConfig(emu));
  emu.admin("POST", "/counters/reset");
  ObserveRequest oreq;
  oreq.desired = {&changed};
  oreq.ctx = tend::testing::conformanceContext();
  oreq.privateData[changed.id] = priv;
  auto o = again->observe(oreq);
  auto& ob = o.observed.at(changed.id);
  CHECK(ob.ready);
  CHECK(ob.message.find("pending a reboot: ciuser (restart: manual)") != std::string::npos);
  CHECK(again->plan(PlanRequest{&changed, &ob}).action == Action::Noop);
  CHECK(emu.admin("GET", "/counters")["writes"] == 0);

  // restart: auto for this VM: the pending change gets its reboot, then nothing is pending.
  auto autoVm = changed;
  autoVm.spec["restart"] = "auto";
  autoVm.hash += "-auto";
  r = converge(*again, autoVm, priv);
  INFO(r.message);
  CHECK(r.outcome == Outcome::Ok);
  CHECK(counter(emu, "POST /nodes/{node}/qemu/{vmid}/status/reboot") == 1);
  CHECK_FALSE(priv.contains("pending_reboot"));
  oreq.desired = {&autoVm};
  oreq.privateData[autoVm.id] = priv;
  o = again->observe(oreq);
  CHECK(o.observed.at(autoVm.id).message.find("pending") == std::string::npos);
}

TEST_CASE("proxmox template: the image grows to the template's disk before it becomes a template, and a smaller "
          "disk than the image is refused", "[proxmox][provider]") {
  START_EMULATOR(emu);
  registerImage(emu);  // a 2 GiB image
  auto p = makeProvider(providerConfig(emu));
  auto t = templateRes();
  t.spec["disk"] = "10G";
  json priv;
  auto r = converge(*p, t, priv);
  INFO(r.message);
  REQUIRE(r.outcome == Outcome::Ok);
  auto v = emu.admin("GET", "/vms/9000");
  CHECK(v["config"]["template"] == "1");
  CHECK(v["config"]["scsi0"].get<std::string>().find("size=10G") != std::string::npos);

  auto small = templateRes(9001);
  small.id = "template/small";
  small.spec["name"] = "small";
  small.spec["disk"] = "1G";
  json p2;
  auto rs = converge(*p, small, p2);
  CHECK(rs.outcome == Outcome::Failed);
  CHECK(rs.message.find("the cloud image is larger than the template's disk") != std::string::npos);
  CHECK(emu.admin("GET", "/vms/9001")["config"].value("template", "0") != "1");
}
