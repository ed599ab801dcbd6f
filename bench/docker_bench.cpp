// Benchmark driver for bench/docker_bench.sh: converges, no-op passes and prunes N containers
// through the docker provider (no engine: observe once, plan, apply in parallel like the
// engine's per-provider parallelism), printing timings as `key value` lines.
//
//   bench_docker_bench converge ENV N IMAGE [PARALLEL]   -> "converge_s 1.23"
//   bench_docker_bench noop ENV N IMAGE [REPEAT]         -> "noop_ms_median 4.5", "noop_changed 0"
//   bench_docker_bench down ENV N IMAGE                  -> removes everything of ENV
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>

#include "core/engine.h"
#include "providers/docker/docker_provider.h"
#include "state/sqlite_state_store.h"
#include "providers/docker/engine_client.h"
#include "providers/docker/payload.h"

using namespace tend;
using nlohmann::json;
using Clk = std::chrono::steady_clock;

namespace {
std::string sha256Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", md[i]);
    out += b;
  }
  return out;
}

std::vector<DesiredResource> desired(const std::string& env, int n, const std::string& image) {
  std::vector<DesiredResource> v;
  json common = {{"endpoint", "unix:/var/run/docker.sock"}, {"environment", env}, {"host", "local"}};
  DesiredResource net;
  net.id = "network/local/" + env;
  net.kind = "network";
  net.spec = common;
  net.spec.update({{"name", env + "_default"}, {"driver", "bridge"}, {"app", env},
                   {"labels", {{"com.docker.compose.project", env}, {"com.docker.compose.network", "default"}}},
                   {"external", false}});
  v.push_back(net);
  for (int i = 1; i <= n; ++i) {
    char svc[16];
    std::snprintf(svc, sizeof svc, "s%03d", i);
    DesiredResource c;
    c.id = "container/" + env + "/" + svc;
    c.kind = "container";
    c.spec = common;
    c.spec.update({{"app", env}, {"service", svc}, {"name", env + "-" + svc}, {"image", image},
                   {"command", {"sleep", "3600"}}, {"environment", {{"SVC", svc}}},
                   {"networks", {{env + "_default", {{"aliases", {svc}}}}}}, {"restart", "no"},
                   {"labels", {{"com.docker.compose.project", env}, {"com.docker.compose.service", svc}}},
                   {"stop_grace_period_s", 1}});
    c.dependsOn.push_back(net.id);
    v.push_back(c);
  }
  for (auto& r : v) {
    r.provider = "docker";
    r.host = "local";
    r.hash = sha256Hex(r.spec.dump());
  }
  return v;
}

// One pass: observe, plan everything, apply the network wave then the container wave in
// parallel. Returns the number of non-noop actions.
int pass(Provider& p, const std::vector<DesiredResource>& d, const std::string& env, int parallel,
         bool prune) {
  ObserveRequest oreq;
  for (auto& r : d) oreq.desired.push_back(&r);
  oreq.includeOwned = prune;
  oreq.ctx.environment = env;
  auto obs = p.observe(oreq);
  if (!obs.errors.empty()) {
    std::cerr << "observe error: " << obs.errors.begin()->second.message << "\n";
    std::exit(1);
  }
  std::vector<ApplyRequest> waves[2];
  int changed = 0;
  for (auto& r : d) {
    auto it = obs.observed.find(r.id);
    const ObservedResource* o = it == obs.observed.end() ? nullptr : &it->second;
    auto a = p.plan({&r, o});
    if (a.action == Action::Noop) continue;
    ++changed;
    ApplyRequest ar{a, &r, o, {}};
    ar.ctx.environment = env;
    waves[r.kind == "container" ? 1 : 0].push_back(ar);
  }
  if (prune) {
    for (auto& [id, o] : obs.observed) {
      bool wanted = std::any_of(d.begin(), d.end(), [&](auto& r) { return r.id == id; });
      if (wanted) continue;
      auto a = p.plan({nullptr, &o});
      if (a.action == Action::Noop) continue;
      ++changed;
      ApplyRequest ar{a, nullptr, &o, {}};
      ar.ctx.environment = env;
      waves[kindOfId(id) == "container" ? 0 : 1].push_back(ar);  // containers go first on prune
    }
  }
  for (auto& wave : waves) {
    std::atomic<size_t> next{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < parallel; ++t)
      ts.emplace_back([&] {
        for (size_t i; (i = next++) < wave.size();) {
          auto r = p.apply(wave[i]);
          if (r.outcome == Outcome::Failed) {
            std::cerr << wave[i].action.id << ": " << r.message << "\n";
            ++failures;
          }
        }
      });
    for (auto& t : ts) t.join();
    if (failures) std::exit(1);
  }
  return changed;
}

// Lower bound: raw POST /containers/create + /start for N containers with PARALLEL requests
// in flight on the provider's client (no tend logic), then removal. Same body shape as tend.
double rawConverge(const std::string& env, int n, const std::string& image, int parallel) {
  auto ep = docker::parseEndpoint("unix:/var/run/docker.sock");
  docker::EngineClient c(*ep);
  auto d = desired(env, n, image);
  auto call = [&](const std::string& m, const std::string& t, const std::string& body) {
    docker::ApiRequest r;
    r.method = m;
    r.target = t;
    r.body = body;
    r.deadline = Clk::now() + std::chrono::seconds(300);
    return c.call(std::move(r));
  };
  auto net = call("POST", "/networks/create", docker::buildNetworkCreate(d[0], env).dump());
  if (!net.ok()) {
    std::cerr << net.errorText() << "\n";
    std::exit(1);
  }
  auto t0 = Clk::now();
  std::atomic<size_t> next{1};
  std::vector<std::thread> ts;
  for (int t = 0; t < parallel; ++t)
    ts.emplace_back([&] {
      for (size_t i; (i = next++) < d.size();) {
        auto b = docker::buildContainerCreate(d[i], env);
        auto cr = call("POST", "/containers/create?name=" + d[i].spec["name"].get<std::string>(),
                       b->body.dump());
        auto id = json::parse(cr.body, nullptr, false).value("Id", "");
        auto st = call("POST", "/containers/" + id + "/start", "");
        if (!st.okOr304()) std::cerr << "raw start: " << st.errorText() << "\n";
      }
    });
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(Clk::now() - t0).count();
}

// The same through the real engine (what tendd and `tend apply --once` run): dependency waves,
// per-provider parallelism (the provider's declared default unless PARALLEL > 0), the global
// rate limit, state records. Returns seconds per run; prints each.
int engineMode(const std::string& mode, const std::string& env, int n, const std::string& image,
               int parallel, int repeat) {
  auto prov = docker::makeDockerProvider(ProviderConfig{json::object(), "", "", env});
  auto store = openSqliteStateStore(":memory:");
  if (!prov || !store) return 1;
  auto g = std::make_shared<DesiredGraph>();
  g->environment = env;
  g->revision = "bench";
  g->resources = desired(env, n, image);
  if (parallel > 0) g->parallelism["docker"] = parallel;
  g->reindex();
  EngineDeps deps;
  deps.state = store->get();
  Provider* p = prov->get();
  deps.providerFor = [p](const std::string& name) -> Provider* { return name == "docker" ? p : nullptr; };
  EngineOptions opts;
  opts.environment = env;
  auto engine = makeEngine(deps, opts);
  engine->setDesired(g);
  std::vector<double> ms;
  for (int i = 0; i < (mode == "engine-noop" ? repeat + 1 : 1); ++i) {
    RunRequest rq;
    rq.trigger = "bench";
    auto t0 = Clk::now();
    auto r = engine->run(rq);
    double t = std::chrono::duration<double, std::milli>(Clk::now() - t0).count();
    if (r.result != "success") {
      std::cerr << "engine run: " << r.result << " (" << r.failed << " failed)\n";
      return 1;
    }
    if (mode == "engine-noop" && i == 0) continue;  // warm-up: pool, API version, state
    ms.push_back(t);
    if (mode == "engine-noop" && r.changed != 0) std::cout << "noop_changed " << r.changed << "\n";
  }
  std::sort(ms.begin(), ms.end());
  if (mode == "engine-converge") std::cout << "converge_s " << ms[0] / 1000 << "\n";
  else std::cout << "noop_ms_median " << ms[ms.size() / 2] << "\nnoop_ms_min " << ms.front() << "\n";
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: bench_docker_bench converge|noop|down ENV N IMAGE [PARALLEL|REPEAT]\n";
    return 2;
  }
  std::string mode = argv[1], env = argv[2], image = argv[4];
  int n = std::atoi(argv[3]);
  int extra = argc > 5 ? std::atoi(argv[5]) : 0;
  ProviderConfig cfg;
  cfg.environment = env;
  auto prov = docker::makeDockerProvider(cfg);
  if (!prov) {
    std::cerr << prov.error().message << "\n";
    return 1;
  }
  Provider& p = **prov;
  auto d = desired(env, n, image);
  if (mode.rfind("engine-", 0) == 0) return engineMode(mode, env, n, image, extra, 20);
  if (mode == "converge") {
    auto t0 = Clk::now();
    int changed = pass(p, d, env, extra > 0 ? extra : 8, false);
    double s = std::chrono::duration<double>(Clk::now() - t0).count();
    std::cout << "converge_s " << s << "\nconverge_changed " << changed << "\n";
  } else if (mode == "noop") {
    int repeat = extra > 0 ? extra : 20;
    pass(p, d, env, 8, false);  // warm: connection pool, API version
    std::vector<double> ms;
    int changed = 0;
    for (int i = 0; i < repeat; ++i) {
      auto t0 = Clk::now();
      changed += pass(p, d, env, 8, true);
      ms.push_back(std::chrono::duration<double, std::milli>(Clk::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::cout << "noop_ms_median " << ms[ms.size() / 2] << "\nnoop_ms_min " << ms.front()
              << "\nnoop_changed " << changed << "\n";
  } else if (mode == "raw") {
    std::cout << "raw_converge_s " << rawConverge(env, n, image, extra > 0 ? extra : 8) << "\n";
  } else if (mode == "down") {
    auto t0 = Clk::now();
    pass(p, {}, env, 8, true);
    std::cout << "down_s " << std::chrono::duration<double>(Clk::now() - t0).count() << "\n";
  } else {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  return 0;
}
