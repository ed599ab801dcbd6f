// apps.yml is read and expanded app by app while a second thread still parses it
// (LoadOptions::streamApps). Whatever the file holds, the outcome must be the one of parsing
// it whole first: the same diagnostics, resources, hashes, dependencies and revision.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "core/spec.h"
#include "tests/core/spec/spec_test_util.h"

using tend::testing::TempSpecDir;

namespace {

// Everything a load decides, as text.
std::string outcome(const tend::LoadResult& r) {
  std::ostringstream o;
  for (const auto& d : r.diagnostics) o << d.str() << "\n";
  if (!r.graph) return o.str() + "(no graph)\n";
  o << "revision " << r.graph->revision << "\n";
  for (const auto& res : r.graph->resources) {
    o << res.id << " " << res.hash << " tier=" << res.tier << " deps=";
    for (const auto& x : res.dependsOn) o << x << ",";
    o << "\n";
  }
  return o.str();
}

std::string loadBothWays(const std::string& dir, bool expectOk) {
  tend::LoadOptions streamed, whole;
  whole.streamApps = false;
  tend::LoadResult a = tend::test::loadSpec(dir, streamed);
  tend::LoadResult b = tend::test::loadSpec(dir, whole);
  std::string sa = outcome(a), sb = outcome(b);
  INFO(dir);
  CHECK(sa == sb);
  CHECK(a.ok() == expectOk);
  CHECK(b.ok() == expectOk);
  return sa;
}

void writeBase(const TempSpecDir& d) {
  d.write("environment.yml",
          "environment: streamtest\ntimezone: Etc/UTC\nnetwork: { cidr: 127.0.0.0/8 }\n"
          "providers:\n  docker: { transport: \"unix:/var/run/docker.sock\" }\n"
          "  bind9: { server: h1, conf_dir: ./bind }\n"
          "dns:\n  domains: [stream.test]\n");
  d.write("hosts.yml", "hosts:\n  h1: { address: 127.0.0.1 }\n  h2: { address: 127.0.0.2 }\n");
}

std::string app(const std::string& name, const std::string& host, int port) {
  return "  " + name + ":\n    host: " + host + "\n    expose: [{ name: " + name + ", domain: stream.test, port: " +
         std::to_string(port) + " }]\n    containers:\n      web:\n        image: \"busybox:1.36\"\n" +
         "        environment: { TZ: \"${environment.timezone}\" }\n        ports: [\"127.0.0.1:" +
         std::to_string(port) + ":80\"]\n";
}

// A spec directory with environment.yml and hosts.yml; load() writes apps.yml and loads both ways.
struct Site {
  TempSpecDir d;
  Site() { writeBase(d); }
  std::string load(const std::string& appsYml, bool expectOk) {
    d.write("apps.yml", appsYml);
    return loadBothWays(d.path(), expectOk);
  }
};

}  // namespace

TEST_CASE("streamed apps.yml: many apps load as when parsed whole", "[spec][stream]") {
  std::string apps = "apps:\n";
  for (int i = 0; i < 300; ++i) apps += app("app" + std::to_string(i), i % 2 ? "h1" : "h2", 20000 + i);
  std::string out = Site().load(apps, true);
  CHECK(out.find("container/app299/web") != std::string::npos);
}

TEST_CASE("streamed apps.yml: anchors and merge keys across apps", "[spec][stream]") {
  std::string out = Site().load(
      "apps:\n"
      "  first:\n    host: h1\n    containers:\n      web:\n        image: \"busybox:1.36\"\n"
      "        environment: &env { A: \"1\", B: \"2\" }\n        labels: &labels { team: core }\n"
      "  second:\n    host: h2\n    containers:\n      web:\n        image: \"busybox:1.36\"\n"
      "        environment: { <<: *env, B: \"3\" }\n        labels: *labels\n"
      "  third: &third\n    host: h1\n    containers:\n      job: { image: \"busybox:1.36\" }\n"
      "  fourth: *third\n",
      true);
  CHECK(out.find("container/fourth/job") != std::string::npos);
}

TEST_CASE("streamed apps.yml: a merge key among the apps themselves", "[spec][stream]") {
  Site site;
  site.load("defaults: &more\n  extra:\n    host: h2\n    containers:\n      web: { image: \"busybox:1.36\" }\n"
            "apps:\n  <<: *more\n" + app("web", "h1", 20001),
            false);  // `defaults` is an unknown key
  std::string out = site.load(
      "apps:\n  <<: { merged: { host: h2, containers: { c: { image: \"busybox:1.36\" } } } }\n" + app("web", "h1", 20001),
      true);
  CHECK(out.find("container/merged/c") != std::string::npos);
}

TEST_CASE("streamed apps.yml: an alias of the apps mapping inside an app", "[spec][stream]") {
  Site().load("apps: &all\n" + app("web", "h1", 20001) +
                  "  loop:\n    host: h1\n    containers:\n      c:\n        image: \"busybox:1.36\"\n        labels: *all\n",
              false);
}

TEST_CASE("streamed apps.yml: YAML errors, duplicate apps and odd keys", "[spec][stream]") {
  Site site;
  SECTION("a syntax error after some apps") {
    std::string out = site.load("apps:\n" + app("a", "h1", 20001) + app("b", "h2", 20002) + "  c: [unclosed\n", false);
    CHECK(out.find("invalid YAML") != std::string::npos);
  }
  SECTION("the same app twice") {
    std::string out = site.load("apps:\n" + app("a", "h1", 20001) + app("b", "h2", 20002) + app("a", "h2", 20003), false);
    CHECK(out.find("duplicate key 'a'") != std::string::npos);
  }
  SECTION("a list key, an empty name, values that are not mappings") {
    site.load("apps:\n  ? [x, y]\n  : { host: h1 }\n  \"\": { host: h1 }\n  nothing: ~\n  three: 3\n" + app("ok", "h1", 20001),
              false);
  }
  SECTION("apps is a list, a scalar, an alias") {
    site.load("apps:\n  - web\n", false);
    site.load("apps: web\n", false);
    site.load("x-base: &b\n" + app("web", "h1", 20001) + "apps: *b\n", false);
  }
  SECTION("an empty or missing apps.yml, an empty apps mapping") {
    site.load("", true);
    site.load("apps: {}\n", true);
    std::filesystem::remove(site.d.file("apps.yml"));
    loadBothWays(site.d.path(), true);
  }
  SECTION("two documents") {
    site.load("apps:\n" + app("a", "h1", 20001) + "---\napps: {}\n", false);
  }
}

TEST_CASE("streamed apps.yml: compose files, interpolation errors, a missing environment", "[spec][stream]") {
  Site site;
  site.d.write("web/compose.yml", "services:\n  web:\n    image: \"busybox:1.36\"\n    environment: [X=${nope}]\n");
  site.load("apps:\n  web:\n    host: h1\n    compose: web/compose.yml\n" + app("other", "h2", 20002) +
                "  bad:\n    host: nowhere\n    containers:\n      c: { image: \"busybox:1.36\", user: \"${vms.x.ip}\" }\n",
            false);
  std::filesystem::remove(site.d.file("environment.yml"));
  loadBothWays(site.d.path(), false);
}

TEST_CASE("every corpus spec gives the same diagnostics streamed and whole", "[spec][stream][corpus]") {
  std::vector<std::filesystem::path> cases = tend::testing::invalidCorpusCases();
  REQUIRE(cases.size() >= 25);
  for (const auto& dir : cases) loadBothWays(dir.string(), false);
  for (const char* site : {"specs/wil", "specs/local"})
    loadBothWays((std::filesystem::path(TEND_SOURCE_DIR) / site).string(), true);
}

TEST_CASE("damaged copies of specs/wil give the same outcome streamed and whole", "[spec][stream]") {
  // A deterministic stream of damage (bytes dropped, duplicated, replaced; lines repeated)
  // applied to the real site's apps.yml: every copy must load the same both ways, and never
  // crash (CI runs this under ASan+UBSan too).
  std::filesystem::path wil = std::filesystem::path(TEND_SOURCE_DIR) / "specs/wil";
  TempSpecDir d;
  std::filesystem::copy(wil, d.path(), std::filesystem::copy_options::recursive);
  std::string text;
  {
    std::ifstream in(wil / "apps.yml", std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE(text.size() > 1000);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const char* junk[] = {":", " ", "\n", "-", "&a ", "*a", "<<: ", "{", "]", "\"", "'", "\t", "? ", "${", "~"};
  int ok = 0;
  for (int i = 0; i < 150; ++i) {
    std::string t = text;
    int edits = 1 + static_cast<int>(next() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = next() % t.size();
      switch (next() % 4) {
        case 0: t.erase(at, 1 + next() % 8); break;
        case 1: t.insert(at, junk[next() % (sizeof junk / sizeof *junk)]); break;
        case 2: t[at] = static_cast<char>(' ' + next() % 95); break;
        default: {
          size_t b = t.rfind('\n', at);
          b = b == std::string::npos ? 0 : b + 1;
          size_t en = t.find('\n', at);
          if (en != std::string::npos) t.insert(b, t.substr(b, en + 1 - b));
        }
      }
    }
    d.write("apps.yml", t);
    tend::LoadOptions streamed, whole;
    whole.streamApps = false;
    tend::LoadResult a = tend::test::loadSpec(d.path(), streamed);
    tend::LoadResult b = tend::test::loadSpec(d.path(), whole);
    INFO("damaged copy " << i);
    REQUIRE(outcome(a) == outcome(b));
    ok += a.ok();
  }
  CHECK(ok < 150);  // the damage does break specs
  CHECK(ok > 0);     // and leaves some intact
}
