#pragma once
// Helpers for the docker provider tests: a per-run unique environment name (the ownership
// label isolates runs), the busybox test image, hand-built DesiredResources following
// docs/resources.md, a minimal reconcile pass driver, and cleanup of everything the run made.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "core/provider.h"
#include "core/resource.h"
#include "tests/support/shell.h"
#include "tests/support/skip.h"

namespace tend::dockertest {
using nlohmann::json;

using tend::testing::sh;

inline std::string sha256Hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

inline std::string uniquePrefix() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "tt%05x%04x", static_cast<unsigned>(getpid()) & 0xfffff,
                rd() & 0xffff);
  return buf;
}

// `docker` against a given daemon socket ("" = default).
inline std::string dockerCmd(const std::string& sock) {
  return sock.empty() ? "docker" : "docker -H unix://" + sock;
}

inline bool ensureDockerd() {
  int rc = 0;
  sh("bash " TEND_SOURCE_DIR "/tests/fixtures/docker/ensure-dockerd.sh >/dev/null 2>&1", &rc);
  return rc == 0;
}

// Skips the test case when no Docker daemon answers and none can be started.
inline void requireDockerd() {
  if (!ensureDockerd()) tend::testing::skipTest("no dockerd (tests/fixtures/docker/ensure-dockerd.sh failed)");
}

inline bool makeImage(const std::string& tag, const std::string& sock = "") {
  int rc = 0;
  std::string env = sock.empty() ? "" : "DOCKER_HOST=unix://" + sock + " ";
  sh(env + "bash " TEND_SOURCE_DIR "/tests/fixtures/docker/make-busybox-image.sh " + tag +
         " >/dev/null 2>&1",
     &rc);
  return rc == 0;
}

// Everything a test run creates carries io.tend.environment=<env>; cleanup removes it all,
// also when the test failed (RAII).
struct Run {
  std::string env = uniquePrefix();
  std::string sock;  // "" = system dockerd
  std::string endpoint = "unix:/var/run/docker.sock";
  std::string image;
  explicit Run(std::string socket = "") : sock(std::move(socket)) {
    if (!sock.empty()) endpoint = "unix:" + sock;
    image = "tend-test/busybox:" + env;
  }
  ~Run() { cleanup(); }
  void cleanup() {
    std::string d = dockerCmd(sock);
    std::string f = "--filter label=io.tend.environment=" + env;
    sh(d + " ps -aq " + f + " | xargs -r " + d + " rm -f >/dev/null 2>&1");
    sh(d + " ps -aq --filter name=" + env + " | xargs -r " + d + " rm -f >/dev/null 2>&1");
    sh(d + " network ls -q " + f + " | xargs -r " + d + " network rm >/dev/null 2>&1");
    sh(d + " volume ls -q " + f + " | xargs -r " + d + " volume rm -f >/dev/null 2>&1");
    sh(d + " volume ls -q --filter name=" + env + " | xargs -r " + d +
       " volume rm -f >/dev/null 2>&1");
    sh(d + " rmi -f " + image + " >/dev/null 2>&1");
  }

  json common() const { return {{"endpoint", endpoint}, {"environment", env}, {"host", "local"}}; }

  DesiredResource finish(DesiredResource r) const {
    r.provider = "docker";
    r.host = "local";
    r.hash = sha256Hex(r.spec.dump());
    return r;
  }
  DesiredResource imageRes(const std::string& ref, const std::string& pull = "never") const {
    DesiredResource r;
    r.id = "image/local/" + ref;
    r.kind = "image";
    r.spec = common();
    r.spec["ref"] = ref;
    r.spec["pull"] = pull;
    return finish(r);
  }
  DesiredResource network(const std::string& app) const {
    DesiredResource r;
    r.id = "network/local/" + app;
    r.kind = "network";
    r.spec = common();
    r.spec.update({{"name", app + "_default"},
                   {"driver", "bridge"},
                   {"app", app},
                   {"labels", {{"com.docker.compose.project", app}, {"com.docker.compose.network", "default"}}},
                   {"external", false}});
    return finish(r);
  }
  DesiredResource volume(const std::string& app, const std::string& name, bool prune) const {
    DesiredResource r;
    r.id = "volume/local/" + app + "_" + name;
    r.kind = "volume";
    r.spec = common();
    r.spec.update({{"name", app + "_" + name},
                   {"driver", "local"},
                   {"app", app},
                   {"labels", {{"com.docker.compose.project", app}, {"com.docker.compose.volume", name}}},
                   {"prune_volumes", prune}});
    return finish(r);
  }
  // A container following the docs/resources.md shape; `extra` overrides fields.
  DesiredResource container(const std::string& app, const std::string& svc, json extra = json::object(),
                            bool withNetwork = true) const {
    DesiredResource r;
    r.id = "container/" + app + "/" + svc;
    r.kind = "container";
    r.spec = common();
    json s = {{"app", app},
              {"service", svc},
              {"name", app + "-" + svc},
              {"image", image},
              {"command", json::array({"sleep", "3600"})},
              {"entrypoint", nullptr},
              {"environment", json::object()},
              {"ports", json::array()},
              {"volumes", json::array()},
              {"networks", withNetwork ? json{{app + "_default", {{"aliases", {svc}}}}} : json::object()},
              {"restart", "no"},
              {"labels", {{"com.docker.compose.project", app}, {"com.docker.compose.service", svc}}},
              {"user", ""},
              {"working_dir", ""},
              {"hostname", ""},
              {"healthcheck", nullptr},
              {"cap_add", json::array()},
              {"devices", json::array()},
              {"extra_hosts", json::array()},
              {"logging", nullptr},
              {"depends_on", json::object()},
              {"network_mode", ""},
              {"privileged", false},
              {"shm_size", 0},
              {"stop_grace_period_s", 1}};
    r.spec.update(s);
    r.spec.update(extra);
    if (withNetwork) r.dependsOn.push_back("network/local/" + app);
    return finish(r);
  }
  std::string inspect(const std::string& name, const std::string& fmt) const {
    return sh(dockerCmd(sock) + " inspect -f '" + fmt + "' " + name + " 2>/dev/null");
  }
};

struct PassResult {
  std::map<std::string, PlannedAction> plans;
  std::map<std::string, ApplyResponse> applies;
  ObserveResponse observed;
  int changed() const {
    int n = 0;
    for (auto& [id, p] : plans)
      if (p.action != Action::Noop) ++n;
    return n;
  }
};

// One reconcile pass without the engine: observe all, then plan+apply in order (dependencies
// first, as the engine orders them), then prune owned leftovers. With `parallel`, applies of
// one "wave" (resources whose deps are all earlier) run on threads.
inline PassResult pass(Provider& p, const std::vector<DesiredResource>& desired, const std::string& env,
                       bool prune = true, const SecretResolver* secrets = nullptr) {
  PassResult out;
  ObserveRequest oreq;
  for (auto& d : desired) oreq.desired.push_back(&d);
  oreq.includeOwned = prune;
  oreq.ctx.environment = env;
  oreq.ctx.secrets = secrets;
  out.observed = p.observe(oreq);
  for (auto& d : desired) {
    if (out.observed.errors.count(d.id)) continue;
    auto it = out.observed.observed.find(d.id);
    const ObservedResource* o = it == out.observed.observed.end() ? nullptr : &it->second;
    PlannedAction a = p.plan({&d, o});
    out.plans[d.id] = a;
    if (a.action == Action::Noop && !a.conflict && (!o || o->ready)) continue;
    ApplyRequest ar{a, &d, o, {}};
    ar.ctx.environment = env;
    ar.ctx.secrets = secrets;
    out.applies[d.id] = p.apply(ar);
  }
  if (prune) {
    for (auto& [id, o] : out.observed.observed) {
      bool wanted = false;
      for (auto& d : desired) wanted |= d.id == id;
      if (wanted) continue;
      PlannedAction a = p.plan({nullptr, &o});
      out.plans[id] = a;
      if (a.action == Action::Noop) continue;
      ApplyRequest ar{a, nullptr, &o, {}};
      ar.ctx.environment = env;
      out.applies[id] = p.apply(ar);
    }
  }
  return out;
}

}  // namespace tend::dockertest
