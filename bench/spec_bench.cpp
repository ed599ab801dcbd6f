// Spec load + validate + expand on a generated environment: 500 hosts x 10 containers
// (5,000+ resources). Reports the median wall time of several runs and the peak RSS. The timed
// region is loadSpecDir() up to its result (graph, hashes, revision), with all of its threads
// (apps.yml parser, payload hashing, validation + revision) joined; freeing the result at the
// end of each run is outside it, as it always was. `--dump DIR` prints a spec's expansion.
// Target (issue 2): < 200 ms and < 64 MB RSS.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "core/spec.h"
#include "tests/support/spec_load.h"

namespace {

void generate(const std::string& dir, int hosts, int perHost) {
  std::ofstream env(dir + "/environment.yml");
  env << "environment: bench\ntimezone: Etc/UTC\nnetwork: { cidr: 127.0.0.0/8 }\n"
         "providers:\n  docker: { transport: \"unix:/var/run/docker.sock\" }\n"
         "  bind9: { server: h0, conf_dir: ./bind }\n"
         "tiers: [infra, apps]\n"
         "dns:\n  domains: [bench.test]\n  views:\n    internal: { match_clients: [127.0.0.1] }\n"
         "    external: { match_clients: [any], address: 127.0.0.254 }\n";
  std::ofstream h(dir + "/hosts.yml");
  h << "hosts:\n";
  for (int i = 0; i < hosts; ++i)
    h << "  h" << i << ": { address: 127." << (1 + i / 250) << "." << (i % 250) << ".1"
      << (i == 0 ? ", tier: infra" : "") << " }\n";
  std::ofstream a(dir + "/apps.yml");
  a << "apps:\n";
  for (int i = 0; i < hosts; ++i) {
    a << "  app" << i << ":\n    host: h" << i << "\n"
      << "    expose: [{ name: app" << i << ", domain: bench.test, port: " << (20000 + i) << " }]\n"
      << "    containers:\n";
    for (int c = 0; c < perHost; ++c) {
      a << "      c" << c << ":\n"
        << "        image: registry.example.test/team/service" << c << ":1." << c << ".0\n"
        << "        restart: unless-stopped\n"
        << "        environment:\n          TZ: ${environment.timezone}\n          INDEX: \"" << c << "\"\n"
        << "        volumes: [\"${app.dir}/c" << c << ":/data\"]\n";
      if (c == 0) a << "        ports: [\"127.0.0.1:" << (20000 + i) << ":80\"]\n";
      else a << "        depends_on: [c0]\n";
    }
  }
}

double cpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

long peakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

// `bench_spec_bench --dump DIR`: every resource's id, hash, dependencies and payload, one per
// line, to compare two builds' expansions of the same spec (hashes must not move).
int dump(const std::string& dir) {
  tend::LoadResult r = tend::test::loadSpec(dir);
  for (const auto& d : r.diagnostics) std::cout << d.str() << "\n";
  if (!r.ok()) return 1;
  for (const auto& res : r.graph->resources) {
    std::cout << res.id << " " << res.hash << " tier=" << res.tier << " deps=";
    for (const auto& x : res.dependsOn) std::cout << x << ",";
    std::cout << " " << res.spec.dump() << "\n";
  }
  for (const auto& [k, v] : r.graph->providerConfigs) std::cout << "provider " << k << " " << v.dump() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--dump") return dump(argv[2]);
  int hosts = argc > 1 ? std::atoi(argv[1]) : 500;
  int perHost = argc > 2 ? std::atoi(argv[2]) : 10;
  int runs = argc > 3 ? std::atoi(argv[3]) : 7;
  std::string tmpl = (std::filesystem::temp_directory_path() / "tend-spec-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  generate(tmpl, hosts, perHost);
  size_t bytes = 0;
  for (const char* f : {"environment.yml", "hosts.yml", "apps.yml"}) bytes += std::filesystem::file_size(tmpl + "/" + f);
  long rssBefore = peakRssKb();
  std::vector<double> ms, cpu;
  size_t resources = 0;
  for (int i = 0; i < runs; ++i) {
    double c0 = cpuMs();
    auto t0 = std::chrono::steady_clock::now();
    tend::LoadResult r = tend::test::loadSpec(tmpl);
    auto t1 = std::chrono::steady_clock::now();
    cpu.push_back(cpuMs() - c0);
    if (!r.ok()) {
      for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";
      return 1;
    }
    resources = r.graph->resources.size();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  double median = ms[ms.size() / 2];
  long rss = peakRssKb();
  std::printf("spec_bench: %d hosts x %d containers, %zu spec bytes, %zu resources\n", hosts, perHost, bytes, resources);
  std::printf("load+validate+expand: median %.1f ms (min %.1f, max %.1f, %d runs; freeing the result is not timed)\n",
              median, ms.front(), ms.back(), runs);
  std::printf("cpu time per run: median %.1f ms (min %.1f)\n", cpu[cpu.size() / 2], cpu.front());
  std::printf("peak RSS: %.1f MB (%.1f MB before loading)\n", rss / 1024.0, rssBefore / 1024.0);
  bool ok = median < 200.0 && rss < 64 * 1024;
  std::printf("target (< 200 ms, < 64 MB): %s\n", ok ? "met" : "MISSED");
  if (!std::getenv("KEEP")) std::filesystem::remove_all(tmpl); else std::printf("kept %s\n", tmpl.c_str());
  return ok ? 0 : 1;
}
