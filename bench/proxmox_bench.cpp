// proxmox_bench: the Proxmox provider against the API emulator on loopback.
//   1. no-op pass over N converged VMs (default 100): observe + plan of every VM, timed over
//      20 passes, with the emulator's request and write counts per pass (target < 50 ms, one
//      cluster read, no writes);
//   2. M VMs (default 8) cloned through the real engine with clone tasks of T seconds (default
//      5) and reconcile.parallelism.proxmox = P (default 2): wall time to all ready, and the
//      most clones the emulator saw running at once (target about M/P × T plus overhead).
// Usage: bench_proxmox_bench [N] [M] [T] [P]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "core/log.h"
#include "providers/proxmox/client.h"
#include "providers/proxmox/proxmox_registration.h"
#include "state/sqlite_state_store.h"
#include "tests/providers/proxmox/emulator_fixture.h"

using namespace tend;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kImage = "https://images.example/bench.img";

json providerConfig(const testing::PveEmulator& emu, int parallelism) {
  return {{"endpoint", "https://127.0.0.1:" + std::to_string(emu.port)},
          {"node", "pve"},
          {"token_id", testing::kPveTokenId},
          {"token_secret", testing::kPveTokenSecret},
          {"tls", {{"fingerprint", emu.fingerprint}}},
          {"ciuser", "tend"},
          {"_reconcile_parallelism", parallelism}};
}

std::unique_ptr<Provider> makeProvider(const testing::PveEmulator& emu, int parallelism) {
  ProviderConfig pc;
  pc.config = providerConfig(emu, parallelism);
  pc.environment = "bench";
  auto p = proxmox::makeProxmoxProvider(pc);
  if (!p) {
    std::fprintf(stderr, "provider: %s\n", p.error().message.c_str());
    std::exit(1);
  }
  return std::move(p).value();
}

DesiredResource templ() {
  DesiredResource r;
  r.id = "template/base";
  r.kind = "template";
  r.provider = "proxmox";
  r.spec = {{"name", "base"}, {"vmid", 9000}, {"image_url", kImage}, {"environment", "bench"}};
  r.hash = "t1";
  return r;
}

DesiredResource vm(int i) {
  DesiredResource r;
  r.id = "vm/vm" + std::to_string(i);
  r.kind = "vm";
  r.provider = "proxmox";
  r.host = "vm" + std::to_string(i);
  r.spec = {{"name", "vm" + std::to_string(i)},
            {"vmid", 2000 + i},
            {"ip", "127.0." + std::to_string(40 + i / 200) + "." + std::to_string(10 + i % 200)},
            {"prefix", 16},
            {"gateway", "127.0.0.1"},
            {"template", 9000},
            {"cores", 2},
            {"memory", 2048},
            {"disk", "10G"},
            {"environment", "bench"}};
  r.dependsOn = {"template/base"};
  r.hash = "v1-" + std::to_string(i);
  return r;
}

DesiredGraphPtr graph(int n, int parallelism) {
  auto g = std::make_shared<DesiredGraph>();
  g->environment = "bench";
  g->revision = "r1";
  g->resources.push_back(templ());
  for (int i = 0; i < n; ++i) g->resources.push_back(vm(i));
  g->parallelism = {{"proxmox", parallelism}};
  g->reindex();
  return g;
}

struct EngineRun {
  std::unique_ptr<StateStore> store;
  std::unique_ptr<Provider> provider;
  std::unique_ptr<Engine> engine;
  EngineRun(const testing::PveEmulator& emu, int parallelism) {
    auto s = openSqliteStateStore(":memory:");
    if (!s) std::exit(1);
    store = std::move(*s);
    provider = makeProvider(emu, parallelism);
    EngineDeps d;
    d.state = store.get();
    d.providerFor = [this](const std::string& n) -> Provider* { return n == "proxmox" ? provider.get() : nullptr; };
    d.pruneRank = [](const std::string& k) { return k == "vm" ? 5 : 6; };
    EngineOptions o;
    o.workers = 8;
    o.recheckInterval = std::chrono::milliseconds(500);
    engine = makeEngine(d, o);
  }
};

int64_t counterOf(const testing::PveEmulator& emu, const char* key) {
  auto c = emu.admin("GET", "/counters");
  return c.is_object() ? c.value(key, int64_t{-1}) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 100;
  int m = argc > 2 ? std::atoi(argv[2]) : 8;
  double taskSeconds = argc > 3 ? std::atof(argv[3]) : 5.0;
  int par = argc > 4 ? std::atoi(argv[4]) : 2;
  log::configure(log::Level::Warn, log::Format::Text);

  {  // 1. no-op pass over n VMs
    testing::PveEmulator emu({"--task-seconds", "0"});
    if (!emu.started()) {
      std::fprintf(stderr, "%s\n", emu.error.c_str());
      return 1;
    }
    emu.admin("POST", "/images", {{"url", kImage}, {"size", 1u << 30}});
    EngineRun er(emu, 8);
    auto g = graph(n, 8);
    er.engine->setDesired(g);
    auto t0 = SteadyClock::now();
    auto r = er.engine->run(RunRequest{});
    double conv = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    std::printf("converge %d VMs (tasks 0 s): %s in %.1f s (ready %d, failed %d)\n", n, r.result.c_str(), conv,
                r.ready, r.failed);
    // The provider alone: observe + plan of every VM, as a no-op engine pass does.
    std::vector<const DesiredResource*> desired;
    for (const auto& x : g->resources) desired.push_back(&x);
    std::vector<double> ms;
    int64_t reqs = 0, writes = 0;
    for (int pass = 0; pass < 21; ++pass) {
      emu.admin("POST", "/counters/reset");
      auto a = SteadyClock::now();
      ObserveRequest oreq;
      oreq.desired = desired;
      oreq.includeOwned = true;
      oreq.ctx.deadline = SteadyClock::now() + std::chrono::seconds(30);
      auto obs = er.provider->observe(oreq);
      int noops = 0;
      for (const auto* d : desired) {
        auto it = obs.observed.find(d->id);
        PlanRequest pr{d, it == obs.observed.end() ? nullptr : &it->second};
        noops += er.provider->plan(pr).action == Action::Noop && it != obs.observed.end() && it->second.ready;
      }
      double t = std::chrono::duration<double, std::milli>(SteadyClock::now() - a).count();
      if (pass == 0) continue;  // warm-up
      ms.push_back(t);
      reqs = counterOf(emu, "total");
      writes = counterOf(emu, "writes");
      if (noops != static_cast<int>(desired.size()))
        std::printf("  pass %d: only %d of %zu settled as noop\n", pass, noops, desired.size());
    }
    // The same single request alone (raw client, keep-alive): what the emulator itself costs.
    std::vector<double> raw;
    {
      proxmox::Client c(emu.config());
      for (int i = 0; i < 21; ++i) {
        proxmox::Request rq;
        rq.path = "/cluster/resources";
        rq.params = {{"type", "vm"}};
        auto a = SteadyClock::now();
        auto resp = c.call(rq);
        double t = std::chrono::duration<double, std::milli>(SteadyClock::now() - a).count();
        if (i && resp.ok()) raw.push_back(t);
      }
      std::sort(raw.begin(), raw.end());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("no-op pass, %d VMs + 1 template (provider observe + plan, 20 passes): median %.2f ms, "
                "min %.2f ms, max %.2f ms; per pass %lld request(s), %lld write(s)\n",
                n, ms[ms.size() / 2], ms.front(), ms.back(), static_cast<long long>(reqs),
                static_cast<long long>(writes));
    if (!raw.empty())
      std::printf("  the one request alone (raw client, same emulator): median %.2f ms, min %.2f ms\n",
                  raw[raw.size() / 2], raw.front());
    // The engine's no-op run over the same site (state records, scheduling included).
    emu.admin("POST", "/counters/reset");
    auto e0 = SteadyClock::now();
    auto r2 = er.engine->run(RunRequest{});
    std::printf("no-op engine run: %s in %.1f ms; %lld request(s), %lld write(s)\n", r2.result.c_str(),
                std::chrono::duration<double, std::milli>(SteadyClock::now() - e0).count(),
                static_cast<long long>(counterOf(emu, "total")), static_cast<long long>(counterOf(emu, "writes")));
  }

  {  // 2. m clones of taskSeconds each, parallelism par
    char ts[32];
    std::snprintf(ts, sizeof ts, "%.3f", taskSeconds);
    testing::PveEmulator emu({"--task-seconds", "0.2"});
    if (!emu.started()) return 1;
    emu.admin("POST", "/images", {{"url", kImage}, {"size", 1u << 30}});
    emu.admin("POST", "/settings", {{"task_seconds", {{"qmclone", taskSeconds}}}});
    EngineRun er(emu, par);
    auto g = graph(m, par);
    // The template first (not timed): the clones are what is measured.
    auto tg = std::make_shared<DesiredGraph>(*g);
    tg->resources.resize(1);
    tg->reindex();
    er.engine->setDesired(tg);
    er.engine->run(RunRequest{});
    emu.admin("POST", "/counters/reset");
    er.engine->setDesired(g);
    auto t0 = SteadyClock::now();
    auto r = er.engine->run(RunRequest{});
    double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    auto c = emu.admin("GET", "/counters");
    int most = c["max_running"].value("qmclone", 0);
    double ideal = std::ceil(static_cast<double>(m) / par) * taskSeconds;
    std::printf("%d clones, clone task %s s, parallelism %d: %s in %.1f s (ideal %d waves x %.1f s = %.1f s; "
                "serial %.1f s); at most %d clones at once; %lld requests\n",
                m, ts, par, r.result.c_str(), wall, static_cast<int>(std::ceil(static_cast<double>(m) / par)),
                taskSeconds, ideal, m * taskSeconds, most, static_cast<long long>(c.value("total", int64_t{0})));
  }
  return 0;
}
