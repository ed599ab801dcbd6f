// rndc key files are credentials: a malformed one is refused before rndc sees it (rndc's own
// error quotes pieces of the file), and no message ever carries its content.
#include <catch2/catch.hpp>

#include "core/secrets.h"
#include "providers/bind9/rndc_key.h"
#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::bind9;
namespace fs = std::filesystem;

TEST_CASE("rndc key files parse as BIND key statements", "[bind9][rndc][security]") {
  auto k = parseRndcKeyFile(
      "# made by rndc-confgen\nkey \"tend\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LWtleQ==\";\n};\n"
      "/* a second one */ key other { algorithm hmac-md5; secret \"YWJj\"; }; // done\n");
  REQUIRE(k.ok());
  CHECK(k->size() == 2);
  CHECK((*k)[0] == "c2VjcmV0LWtleQ==");

  const std::string canary = "root:x:0:0:canary-from-etc-passwd";
  for (const std::string& text : std::vector<std::string>{canary + "\n", "key \"k\" { algorithm hmac-sha256; secret \"" + canary + "\"; };",
                                  "key k { algorithm x; };", "key k { secret \"YWJj\"; " + canary + " };",
                                  std::string(""), "key \"k\" { /* " + canary}) {
    auto r = parseRndcKeyFile(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("canary") == std::string::npos);
    CHECK(r.error().message.find("want: key") != std::string::npos);
  }
}

TEST_CASE("a key_file that is not a key file is refused without showing its content",
          "[bind9][rndc][security]") {
  testing::Env e;
  // Any file the daemon can read, named as the rndc key (a spec author's mistake, or probing).
  const std::string canary = "canary-line-of-a-private-file-4b1d";
  const std::string notAKey = e.dir + "/not-a-key";
  {
    std::ofstream f(notAKey);
    f << "first " << canary << "\nsecond line;\n";
  }
  e.wil.keyFile = notAKey;
  e.wil.rndcPort = 1;  // nothing listens: rndc would fail after parsing the key file
  ProviderConfig cfg;
  cfg.config = {{"server", "local"}, {"conf_dir", e.wil.confDir}, {"reload", "rndc"},
                {"rndc", {{"server", "127.0.0.1"}, {"port", 1}, {"key_file", notAKey}}}};
  cfg.stateDir = e.dir + "/state";
  bind9::Bind9Options o;
  o.clock = &e.clock;
  auto p = bind9::makeBind9ProviderWith(cfg, o);
  REQUIRE(p.ok());
  auto r = testing::converge(**p, e.wil.resources());
  int zones = 0;
  for (const auto& [id, msg] : r.failures) {
    INFO(id << ": " << msg);
    CHECK(msg.find("canary") == std::string::npos);
    CHECK(msg.find("first") == std::string::npos);
    // Zones fail at their reload; the fragment then fails on the zones it names.
    if (id.rfind("zone/", 0) != 0) continue;
    ++zones;
    CHECK(msg.find("is not a BIND key file: line 1: expected a key statement") != std::string::npos);
  }
  CHECK(zones > 0);
}
