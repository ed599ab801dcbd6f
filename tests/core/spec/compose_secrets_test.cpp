// Compose secrets and configs in the spec: top-level definitions (file, environment, content)
// and a service's references (short and long syntax) become the container payload's `files`
// entries, where Compose would put them. A secret's value never enters the payload. Every key
// of a definition is applied or refused with a located error naming it.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/core/spec/spec_test_util.h"

using nlohmann::json;
using tend::testing::TempSpecDir;

namespace {

struct Loaded {
  tend::LoadResult r;
  std::string errors, warnings;
};

Loaded load(const TempSpecDir& d) {
  Loaded l{tend::test::loadSpec(d.path()), "", ""};
  for (const auto& x : l.r.diagnostics)
    (x.severity == tend::Severity::Error ? l.errors : l.warnings) += x.str() + "\n";
  return l;
}

const tend::DesiredResource* find(const tend::LoadResult& r, const std::string& id) {
  for (const auto& res : r.graph->resources)
    if (res.id == id) return &res;
  return nullptr;
}

void base(const TempSpecDir& d, const std::string& apps = "apps:\n  a: { host: h, compose: app/compose.yml }\n") {
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", apps);
}

}  // namespace

TEST_CASE("compose secrets and configs become payload files where Compose puts them", "[spec][compose][secrets]") {
  TempSpecDir d;
  base(d);
  ::setenv("TEND_SPEC_TEST_TOKEN", "token-value-never-in-payload", 1);
  d.write("app/db_password.txt", "file-value-never-in-payload\n");
  d.write("app/app.conf", "listen 8080\n");
  d.write("app/.env", "FROM_DOTENV=dotenv-value\n");
  d.write("app/compose.yml", R"(services:
  web:
    image: busybox:1.36
    secrets:
      - db_password
      - source: token
        target: api_token
        uid: "1000"
        gid: "1001"
        mode: 0400
      - source: token
        target: /etc/token
      - dotenv_one
    configs:
      - app_conf
      - source: greeting
        target: /etc/greeting.txt
        mode: 0o644
      - source: greeting
        target: rel/greeting
        mode: 420
secrets:
  db_password: { file: ./db_password.txt }
  token: { environment: TEND_SPEC_TEST_TOKEN }
  dotenv_one: { environment: FROM_DOTENV, x-note: fine }
  unused: { file: ./db_password.txt }
configs:
  app_conf: { file: app.conf }
  greeting: { content: "hello ${environment.name}" }
)");
  Loaded l = load(d);
  INFO(l.errors << l.warnings);
  REQUIRE(l.r.ok());
  const auto* web = find(l.r, "container/a/web");
  REQUIRE(web);
  const json& f = web->spec.at("files");
  REQUIRE(f.size() == 7);
  CHECK(f[0] == json{{"kind", "secret"}, {"name", "db_password"}, {"target", "/run/secrets/db_password"},
                     {"mode", 0444}, {"file", d.path() + "/app/db_password.txt"}});
  CHECK(f[1]["target"] == "/run/secrets/api_token");
  CHECK(f[1]["env"] == "TEND_SPEC_TEST_TOKEN");
  CHECK(f[1]["dotenv"] == d.path() + "/app/.env");
  CHECK(f[1]["mode"] == 0400);
  CHECK(f[1]["uid"] == "1000");
  CHECK(f[1]["gid"] == "1001");
  CHECK(f[2]["target"] == "/etc/token");
  CHECK(f[3]["env"] == "FROM_DOTENV");
  CHECK(f[4] == json{{"kind", "config"}, {"name", "app_conf"}, {"target", "/app_conf"}, {"mode", 0444},
                     {"file", d.path() + "/app/app.conf"}});
  CHECK(f[5]["content"] == "hello t");
  CHECK(f[5]["mode"] == 0644);
  CHECK(f[5]["target"] == "/etc/greeting.txt");
  CHECK(f[6]["target"] == "/rel/greeting");
  CHECK(f[6]["mode"] == 0644);
  // No value read from a file or the environment is anywhere in the graph.
  for (const auto& res : l.r.graph->resources) {
    std::string dump = res.spec.dump();
    CHECK(dump.find("never-in-payload") == std::string::npos);
    CHECK(dump.find("dotenv-value") == std::string::npos);
  }
  ::unsetenv("TEND_SPEC_TEST_TOKEN");
}

TEST_CASE("an app's own secrets and configs serve its inline containers", "[spec][compose][secrets]") {
  TempSpecDir d;
  base(d, R"(apps:
  a:
    host: h
    secrets:
      pw: { file: files/pw.txt }
    configs:
      conf: { content: "k = v" }
    containers:
      web:
        image: busybox:1.36
        secrets: [pw]
        configs: [{ source: conf, target: /etc/app.conf }]
)");
  d.write("files/pw.txt", "s3cret\n");
  Loaded l = load(d);
  INFO(l.errors);
  REQUIRE(l.r.ok());
  const auto* web = find(l.r, "container/a/web");
  REQUIRE(web);
  CHECK(web->spec["files"][0]["file"] == d.path() + "/files/pw.txt");
  CHECK(web->spec["files"][0]["target"] == "/run/secrets/pw");
  CHECK(web->spec["files"][1]["content"] == "k = v");
  CHECK(web->spec["files"][1]["target"] == "/etc/app.conf");
}

TEST_CASE("every key of a Compose secret or config is applied or refused with its name", "[spec][compose][secrets][schema]") {
  struct Case {
    const char* key;
    const char* def;  // the definition of `s` (a secret) or `c` (a config)
    bool secret, applied;
  };
  const Case cases[] = {
      {"file", "{ file: ./v.txt }", true, true},
      {"environment", "{ environment: TEND_SPEC_TEST_UNSET_VAR }", true, true},
      {"content", "{ content: text }", true, false},  // configs only
      {"content", "{ content: text }", false, true},
      {"external", "{ external: true }", true, false},
      {"external", "{ file: ./v.txt, external: false }", true, true},
      {"name", "{ file: ./v.txt, name: other }", true, false},
      {"labels", "{ file: ./v.txt, labels: { a: b } }", false, false},
      {"driver", "{ file: ./v.txt, driver: vault }", true, false},
      {"driver_opts", "{ file: ./v.txt, driver_opts: { a: b } }", true, false},
      {"template_driver", "{ file: ./v.txt, template_driver: golang }", false, false},
      {"x-extension", "{ file: ./v.txt, x-extension: 1 }", false, true},
  };
  TempSpecDir d;
  base(d);
  d.write("app/v.txt", "v\n");
  for (const auto& c : cases) {
    std::string ref = c.secret ? "    secrets: [s]\n" : "    configs: [c]\n";
    std::string top = std::string(c.secret ? "secrets:\n  s: " : "configs:\n  c: ") + c.def + "\n";
    d.write("app/compose.yml", "services:\n  web:\n    image: busybox:1.36\n" + ref + top);
    Loaded l = load(d);
    INFO((c.secret ? "secret" : "config") << " key '" << c.key << "': " << l.errors);
    if (c.applied) {
      CHECK(l.r.ok());
    } else {
      CHECK_FALSE(l.r.ok());
      CHECK(l.errors.find(c.key) != std::string::npos);
      CHECK(l.errors.find("compose.yml:") != std::string::npos);
    }
  }
}

TEST_CASE("wrong secrets and configs are refused with their location", "[spec][compose][secrets][bad-input]") {
  struct Case {
    const char* what;
    const char* compose;
    const char* error;
    int line;
  };
  const Case cases[] = {
      {"undefined", "services:\n  web:\n    image: busybox\n    secrets: [nope]\n", "secret 'nope' of container 'web' is not defined", 4},
      {"no source", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {}\n", "needs a source", 6},
      {"two sources", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: { file: v.txt, environment: X }\n",
       "more than one source", 6},
      {"missing file", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: { file: gone.txt }\n",
       "file 'gone.txt' does not exist", 6},
      {"outside the spec", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: { file: ../../etc/passwd }\n",
       "secret 's': file '../../etc/passwd'", 6},
      {"bad mode", "services:\n  web:\n    image: busybox\n    secrets: [{ source: s, mode: rw }]\nsecrets:\n  s: { file: v.txt }\n",
       "'mode' must be a file mode", 4},
      {"mode too large", "services:\n  web:\n    image: busybox\n    secrets: [{ source: s, mode: 017777 }]\nsecrets:\n  s: { file: v.txt }\n",
       "'mode' must be a file mode", 4},
      {"bad uid", "services:\n  web:\n    image: busybox\n    secrets: [{ source: s, uid: root }]\nsecrets:\n  s: { file: v.txt }\n",
       "'uid' must be a numeric id", 4},
      {"no source key", "services:\n  web:\n    image: busybox\n    secrets: [{ target: x }]\nsecrets:\n  s: { file: v.txt }\n",
       "missing required key 'source'", 4},
      {"parent target", "services:\n  web:\n    image: busybox\n    configs: [{ source: c, target: ../etc/x }]\nconfigs:\n  c: { content: x }\n",
       "no '..'", 4},
      {"same target twice",
       "services:\n  web:\n    image: busybox\n    secrets: [s, { source: s, target: /run/secrets/s }]\nsecrets:\n  s: { file: v.txt }\n",
       "two secrets or configs at '/run/secrets/s'", 4},
      {"unknown key", "services:\n  web:\n    image: busybox\n    secrets: [{ source: s, path: x }]\nsecrets:\n  s: { file: v.txt }\n",
       "unknown key 'path'", 4},
      {"a scalar definition", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: v.txt\n", "must be a mapping", 6},
      {"not a list", "services:\n  web:\n    image: busybox\n    secrets: { s: {} }\nsecrets:\n  s: { file: v.txt }\n", "'secrets' must be", 4},
  };
  TempSpecDir d;
  base(d);
  d.write("app/v.txt", "v\n");
  for (const auto& c : cases) {
    d.write("app/compose.yml", c.compose);
    Loaded l = load(d);
    INFO(c.what << ":\n" << l.errors);
    CHECK_FALSE(l.r.ok());
    CHECK(l.errors.find(c.error) != std::string::npos);
    CHECK(l.errors.find("app/compose.yml:" + std::to_string(c.line) + ":") != std::string::npos);
  }
}

TEST_CASE("an unset environment source is a warning at load: tendd reads it when it creates the container",
          "[spec][compose][secrets]") {
  TempSpecDir d;
  base(d);
  ::unsetenv("TEND_SPEC_TEST_NOT_SET");
  d.write("app/compose.yml", "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: { environment: TEND_SPEC_TEST_NOT_SET }\n");
  Loaded l = load(d);
  CHECK(l.r.ok());
  CHECK(l.warnings.find("environment variable 'TEND_SPEC_TEST_NOT_SET' is not set here") != std::string::npos);
}
