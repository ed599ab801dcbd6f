// Redaction and SecretString hygiene: registered values never leave through text or JSON,
// and a canary secret decrypted by the module never appears in anything it outputs.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/secrets.h"
#include "core/secrets/age.h"
#include "core/secrets/sops.h"
#include "tests/core/secrets/secrets_test_util.h"

using tend::Redactor;
using tend::SecretString;
using namespace tend::secrets;
using namespace tend::secrets::testutil;

namespace {
struct MapResolver : tend::SecretResolver {
  std::map<std::string, std::string> m;
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : m) out.push_back(k);
    return out;
  }
  tend::Result<SecretString> get(const std::string& n) const override {
    auto it = m.find(n);
    if (it == m.end()) return tend::makeError("unknown secret " + n);
    return SecretString(it->second);
  }
};
}  // namespace

TEST_CASE("redactor hides registered values in text and JSON", "[secrets][redaction]") {
  Redactor::instance().add("s3cr3t-pass");
  CHECK(Redactor::instance().redact("password=s3cr3t-pass end") == "password=(secret) end");
  nlohmann::json j = {{"env", {{"DB_PASSWORD", "s3cr3t-pass"}}}, {"n", 1}};
  std::string dumped = Redactor::instance().redact(j.dump());
  CHECK(dumped.find("s3cr3t-pass") == std::string::npos);
  CHECK(nlohmann::json::parse(dumped)["env"]["DB_PASSWORD"] == "(secret)");
}

TEST_CASE("redactor hides secrets shorter than 4 bytes where they stand as a value", "[secrets][redaction]") {
  auto& r = Redactor::instance();
  r.add("Q7");
  r.add("z");
  // As a whole value, quoted (plain and JSON-escaped), after '=', as a URL password.
  CHECK(r.redact("Q7") == "(secret)");
  CHECK(r.redact("z") == "(secret)");
  CHECK(r.redact("password=Q7 rejected") == "password=(secret) rejected");
  CHECK(r.redact("DB_PASS=Q7") == "DB_PASS=(secret)");
  CHECK(r.redact("invalid value \"Q7\" for option") == "invalid value \"(secret)\" for option");
  CHECK(r.redact("got 'z'") == "got '(secret)'");
  CHECK(r.redact("http://admin:Q7@127.0.0.1/") == "http://admin:(secret)@127.0.0.1/");
  nlohmann::json j = {{"env", {{"PIN", "Q7"}, {"MODE", "z"}}}, {"msg", "failed with \"Q7\""}};
  std::string dumped = r.redact(j.dump());
  auto back = nlohmann::json::parse(dumped);
  CHECK(back["env"]["PIN"] == "(secret)");
  CHECK(back["env"]["MODE"] == "(secret)");
  CHECK(back["msg"] == "failed with \"(secret)\"");
  CHECK(r.containsSecret("x=Q7"));
  // Elsewhere the same bytes are ordinary text: words, identifiers, JSON keys stay readable.
  CHECK(r.redact("zone lazy.example reloaded, Q7x and xQ7 unchanged") ==
        "zone lazy.example reloaded, Q7x and xQ7 unchanged");
  CHECK(r.redact(R"({"z":1})") == R"({"z":1})");
  CHECK(r.redact("at 10:z0") == "at 10:z0");
  CHECK_FALSE(r.containsSecret("a lazy zebra"));
}

TEST_CASE("redactor hides multi-line values in their JSON-escaped form and line by line", "[secrets][redaction]") {
  std::string key =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
      "QyNTUxOQAAACDr9y3canaryline2xx\n-----END OPENSSH PRIVATE KEY-----\n";
  Redactor::instance().add(key);
  nlohmann::json j = {{"private_key", key}};
  std::string out = Redactor::instance().redact(j.dump());
  CHECK(out == R"j({"private_key":"(secret)"})j");
  // An error quoting one line of the key.
  std::string err = Redactor::instance().redact("ssh: bad key line QyNTUxOQAAACDr9y3canaryline2xx");
  CHECK(err.find("canaryline2") == std::string::npos);
  // The armor lines alone are not secrets and stay readable.
  CHECK(Redactor::instance().redact("-----END OPENSSH PRIVATE KEY-----") == "-----END OPENSSH PRIVATE KEY-----");
  CHECK(Redactor::instance().containsSecret("x QyNTUxOQAAACDr9y3canaryline2xx y"));
}

TEST_CASE("substituteSecrets names the missing secret and never a value", "[secrets][redaction]") {
  MapResolver r;
  r.m["db"] = "value-for-db-1234";
  auto ok = tend::substituteSecrets("postgres://u:${secret:db}@h/x", r);
  REQUIRE(ok.ok());
  CHECK(ok->reveal() == "postgres://u:value-for-db-1234@h/x");
  auto bad = tend::substituteSecrets("a=${secret:db} b=${secret:not_there}", r);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("not_there") != std::string::npos);
  CHECK(bad.error().message.find("value-for-db") == std::string::npos);
  auto none = tend::substituteSecrets("no references", r);
  REQUIRE(none.ok());
  CHECK(none->reveal() == "no references");
}

TEST_CASE("SecretString wipes moved-from short values", "[secrets][redaction]") {
  SecretString a(std::string("short-pw"));
  const char* buf = a.reveal().data();
  SecretString b(std::move(a));
  CHECK(b.reveal() == "short-pw");
  CHECK(a.reveal().empty());  // NOLINT(bugprone-use-after-move)
  // The source's inline buffer no longer holds the value.
  CHECK(std::string(buf, 8) != "short-pw");
  SecretString c;
  c = std::move(b);
  CHECK(c.reveal() == "short-pw");
  CHECK(b.reveal().empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("a canary secret never appears in anything the secrets module outputs", "[secrets][redaction]") {
  TempDir tmp;
  auto id = age::generateIdentity();
  std::string recipient = age::formatRecipient(id.pub);
  const std::string canary = "CANARY-" + std::to_string(::getpid()) + "-5f1e2d3c4b";
  auto path = (tmp.path / "secrets.sops.yml").string();
  REQUIRE(sopsSetValue(path, "canary", SecretString(canary), {id}, {recipient}).ok());
  REQUIRE(sopsSetValue(path, "other", SecretString("other-value-xyz"), {id}, {}).ok());
  writeFile(tmp.path / "key.txt", age::formatIdentity(id) + "\n");

  std::vector<std::string> outputs;
  outputs.push_back(readFile(path));
  auto names = sopsKeyNames(path);
  REQUIRE(names.ok());
  for (const auto& n : *names) outputs.push_back(n);

  // Error paths: wrong key, tampered MAC, tampered value, unknown name.
  auto other = age::generateIdentity();
  std::string text = readFile(path);
  auto e1 = decryptSops(text, SopsFormat::kYaml, {other});
  REQUIRE_FALSE(e1.ok());
  outputs.push_back(e1.error().message);
  std::string tampered = text;
  // One base64 character changed (to one it is not already: a fixed "Z" left 1 run in 64 untouched).
  size_t at = tampered.find("other: ENC[AES256_GCM,data:") + 27;
  tampered[at] = tampered[at] == 'Z' ? 'Y' : 'Z';
  auto e2 = decryptSops(tampered, SopsFormat::kYaml, {id});
  REQUIRE_FALSE(e2.ok());
  outputs.push_back(e2.error().message);
  auto res = openSopsFile(path, (tmp.path / "key.txt").string());
  REQUIRE(res.ok());
  REQUIRE((*res)->get("canary").ok());
  auto e3 = (*res)->get("missing");
  REQUIRE_FALSE(e3.ok());
  outputs.push_back(e3.error().message);
  auto e4 = tend::substituteSecrets("${secret:canary} ${secret:missing}", **res);
  REQUIRE_FALSE(e4.ok());
  outputs.push_back(e4.error().message);

  // Sinks: the canary went through the Redactor when the resolver decrypted it.
  outputs.push_back(Redactor::instance().redact("connecting with password " + canary));
  outputs.push_back(Redactor::instance().redact(nlohmann::json{{"v", canary}}.dump()));

  for (const auto& o : outputs) {
    INFO(o.substr(0, 200));
    CHECK(o.find(canary) == std::string::npos);
    CHECK(o.find("other-value-xyz") == std::string::npos);
  }
}
