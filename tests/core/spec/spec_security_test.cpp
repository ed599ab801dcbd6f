// A spec is content others push: loading it must not run commands, read files outside the
// spec directory into messages, or take the loader down (README "Security model").
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "core/spec.h"
#include "tests/core/spec/spec_test_util.h"

using tend::LoadResult;
using tend::loadSpecDir;
using tend::testing::TempSpecDir;

namespace {

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Every diagnostic as one text, for checks that something never shows.
std::string allMessages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

}  // namespace

TEST_CASE("a spec directory laid out as a bare repository never runs its git configuration", "[spec][security]") {
  if (std::system("git --version >/dev/null 2>&1") != 0) {
    SUCCEED("git is not installed");
    return;
  }
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  // What `git init --bare` makes, with a work tree and an fsmonitor command in its config:
  // plain files a collaborator can commit.
  d.write("HEAD", "0123456789012345678901234567890123456789\n");
  d.write("objects/info/.keep", "");
  d.write("refs/heads/.keep", "");
  std::string pwned = d.file("pwned");
  d.write("config", "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n"
                    "\tfsmonitor = \"touch '" + pwned + "'; false\"\n");
  LoadResult r = loadSpecDir(d.path());
  REQUIRE(r.ok());
  CHECK_FALSE(exists(pwned));
  // Not a work tree git may use: the revision is the content hash.
  CHECK(r.graph->revision.rfind("sha256:", 0) == 0);
}

namespace {

// A spec directory `spec/` beside a host file `token` (as tend's own token would be), in a
// temporary parent.
struct Beside {
  TempSpecDir parent;
  std::string spec = parent.file("spec");
  std::string token = "tok-3f9a1c7e5b2d48c6a0e1f2d3c4b5a697";
  Beside() {
    parent.write("token", token + "\n");
    parent.write("env", "LEAK=" + token + "\n");
    parent.write("secrets.sops.yml", "a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops: {}\n");
    parent.write("spec/environment.yml", "environment: t\n");
    parent.write("spec/hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  }
  void write(const std::string& name, const std::string& text) const { parent.write("spec/" + name, text); }
  void link(const std::string& target, const std::string& name) const {
    std::filesystem::create_symlink(target, spec + "/" + name);
  }
};

}  // namespace

TEST_CASE("compose: a path leading out of the spec directory is refused, its content never shown", "[spec][security]") {
  Beside b;
  SECTION("../") {
    b.write("apps.yml", "apps:\n  a: { host: h, compose: ../token }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(allMessages(r).find(b.token) == std::string::npos);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/apps.yml:2:26: compose file '../token': leads outside the spec directory");
  }
  SECTION("an absolute path") {
    b.write("apps.yml", "apps:\n  a: { host: h, compose: " + b.parent.file("token") + " }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(allMessages(r).find(b.token) == std::string::npos);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].message.find("an absolute path") != std::string::npos);
    CHECK(r.diagnostics[0].loc.line == 2);
  }
  SECTION("a symbolic link committed in the spec") {
    b.link("../token", "c.yml");
    b.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(allMessages(r).find(b.token) == std::string::npos);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/apps.yml:2:26: compose file 'c.yml': leads outside the spec directory");
  }
  SECTION("apps.yml itself a symbolic link leading out") {
    b.link("../token", "apps.yml");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(allMessages(r).find(b.token) == std::string::npos);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/apps.yml:1:1: leads outside the spec directory");
  }
  SECTION("a symbolic link to a file inside still works") {
    b.write("compose/c.yml", "services:\n  web: { image: nginx:1.27 }\n");
    b.link("compose/c.yml", "link.yml");
    b.write("apps.yml", "apps:\n  a: { host: h, compose: link.yml }\n");
    LoadResult r = loadSpecDir(b.spec);
    CHECK(allMessages(r) == "");
    CHECK(r.ok());
  }
}

TEST_CASE("env_file, secrets.file and file sources only from inside the spec directory", "[spec][security]") {
  Beside b;
  SECTION("env_file") {
    b.write("apps.yml", "apps:\n  a:\n    host: h\n    containers:\n      web: { image: nginx:1.27, env_file: ../env }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(allMessages(r).find(b.token) == std::string::npos);
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/apps.yml:5:43: env_file '../env': leads outside the spec directory");
  }
  SECTION("env_file of a compose file, through the compose file's directory") {
    b.write("c/compose.yml", "services:\n  web: { image: nginx:1.27, env_file: ../../env }\n");
    b.write("apps.yml", "apps:\n  a: { host: h, compose: c/compose.yml }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/c/compose.yml:2:39: env_file '../../env': leads outside the spec directory");
  }
  SECTION("secrets.file") {
    b.write("environment.yml", "environment: t\nsecrets: { file: ../secrets.sops.yml }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() ==
          b.spec + "/environment.yml:2:18: secrets file '../secrets.sops.yml': leads outside the spec directory");
  }
  SECTION("a group file's source") {
    b.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1, groups: [g] }\ngroups:\n  g:\n    files:\n"
                         "      /etc/x: { source: ../token }\n");
    LoadResult r = loadSpecDir(b.spec);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].str() == b.spec + "/hosts.yml:6:25: source '../token': leads outside the spec directory");
  }
}

TEST_CASE("a wrong type never shows a whole file's content", "[spec][security]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  d.write("apps.yml", "apps:\n  a: { host: h, compose: c.yml }\n");
  d.write("c.yml", "just-a-token-not-yaml\n");
  LoadResult r = loadSpecDir(d.path());
  REQUIRE_FALSE(r.ok());
  CHECK(allMessages(r).find("just-a-token") == std::string::npos);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message == "'compose file' must be a mapping, got a scalar");
}

// The YAML limits (core/spec/ytree.h): each bomb below would take seconds and gigabytes, or
// crash, without them; refused, each is located where the limit was reached.
TEST_CASE("YAML bombs are refused with a location", "[spec][security][yaml]") {
  TempSpecDir d;
  d.write("environment.yml", "environment: t\n");
  d.write("hosts.yml", "hosts:\n  h: { address: 127.0.0.1 }\n");
  auto onlyError = [&](const LoadResult& r) {
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    return r.diagnostics[0].str();
  };
  SECTION("a recursive alias in apps.yml") {
    d.write("apps.yml", "apps: &a\n  x: *a\n");
    CHECK(onlyError(loadSpecDir(d.path())) ==
          d.path() + "/apps.yml:2:6: alias '*a' refers to a collection that contains it (recursive YAML is not allowed)");
  }
  SECTION("a recursive alias in secrets.sops.yml") {
    d.write("environment.yml", "environment: t\nsecrets: { file: secrets.sops.yml }\n");
    d.write("secrets.sops.yml", "x: &a {y: *a}\nsops: {}\n");
    CHECK(onlyError(loadSpecDir(d.path())) ==
          d.path() + "/environment.yml:2:18: secrets file 'secrets.sops.yml': line 1, column 11: alias '*a' refers to "
                     "a collection that contains it (recursive YAML is not allowed)");
  }
  SECTION("4,000 aliases of a large mapping") {
    std::string big = "x-big: &big\n";
    for (int i = 0; i < 500; ++i) big += "  k" + std::to_string(i) + ": v\n";  // ~1,000 nodes
    std::string apps = big + "apps:\n";
    for (int i = 0; i < 4000; ++i) apps += "  a" + std::to_string(i) + ": *big\n";
    d.write("apps.yml", apps);
    std::string e = onlyError(loadSpecDir(d.path()));
    CHECK(e.find("alias '*big': aliases expand to more than the file holds plus 100000 nodes") != std::string::npos);
    CHECK(e.rfind(d.path() + "/apps.yml:", 0) == 0);
  }
  SECTION("aliases of aliases (exponential)") {
    std::string y = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 12; ++i) {
      y += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
      for (int j = 0; j < 10; ++j) y += std::string(j ? ", " : "") + "*l" + std::to_string(i - 1);
      y += "]\n";
    }
    d.write("apps.yml", y);
    std::string e = onlyError(loadSpecDir(d.path()));
    CHECK(e.find("aliases expand to more than") != std::string::npos);
    CHECK(e.rfind(d.path() + "/apps.yml:", 0) == 0);
  }
  SECTION("40,000 nested [") {
    d.write("apps.yml", "apps: " + std::string(40000, '[') + std::string(40000, ']') + "\n");
    CHECK(onlyError(loadSpecDir(d.path())) == d.path() + "/apps.yml:1:70: YAML nested deeper than 64 levels");
  }
  SECTION("an alias nesting past the depth limit") {
    std::string deep = "x-deep: &d " + std::string(40, '[') + std::string(40, ']') + "\n";
    d.write("apps.yml", deep + "apps: " + std::string(30, '[') + "*d" + std::string(30, ']') + "\n");
    CHECK(onlyError(loadSpecDir(d.path())) == d.path() + "/apps.yml:2:37: alias '*d' nests deeper than 64 levels");
  }
  SECTION("more than a million nodes") {
    std::string y = "x-many: [";
    y.reserve(2100000);
    for (int i = 0; i < 1000001; ++i) y += "0,";
    y += "0]\n";
    d.write("apps.yml", y);
    std::string e = onlyError(loadSpecDir(d.path()));
    CHECK(e.find("too many YAML nodes (more than 1000000, aliases counted as what they repeat)") != std::string::npos);
  }
}

TEST_CASE("100,000 errors: the first 100 and a count", "[spec][security]") {
  TempSpecDir d;
  std::string env = "environment: t\n";
  for (int i = 0; i < 100000; ++i) env += "k" + std::to_string(i) + ": 1\n";
  d.write("environment.yml", env);
  LoadResult r = loadSpecDir(d.path());
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 101);
  CHECK(r.diagnostics[0].str() == d.path() + "/environment.yml:2:1: unknown key 'k0' in environment.yml");
  CHECK(r.diagnostics[99].str() == d.path() + "/environment.yml:101:1: unknown key 'k99' in environment.yml");
  CHECK(r.diagnostics[100].str() == d.path() + ": … and 99,900 more errors");
  // What status, events and the log are made of stays small.
  CHECK(allMessages(r).size() < 20000);
}

TEST_CASE("a very long message is cut", "[spec][security]") {
  TempSpecDir d;
  // An explicit key: libyaml limits plain (simple) keys to 1,024 characters.
  d.write("environment.yml", "environment: t\n? " + std::string(5000, 'k') + "\n: 1\n");
  LoadResult r = loadSpecDir(d.path());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message.size() <= tend::kMaxDiagnosticChars + 3);
  CHECK(r.diagnostics[0].message.substr(r.diagnostics[0].message.size() - 3) == "…");
}
