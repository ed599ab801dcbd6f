// SOPS: real sops-produced files (with the keys their projects commit for tests), documents
// built by the tests, tamper cases, key names without a key, the resolver and redaction.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <yaml-cpp/yaml.h>

#include "core/secrets.h"
#include "core/secrets/age.h"
#include "core/secrets/crypto.h"
#include "core/secrets/sops.h"
#include "tests/core/secrets/secrets_test_util.h"
#include "tests/support/skip.h"

namespace fs = std::filesystem;
namespace age = tend::secrets::age;
using namespace tend::secrets;
using namespace tend::secrets::testutil;

namespace {

std::string colonsToDots(std::string s) {
  std::replace(s.begin(), s.end(), ':', '.');
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<age::X25519Identity> keysFrom(const fs::path& p) {
  auto ids = age::loadIdentityFile(p.string());
  REQUIRE(ids.ok());
  return *ids;
}

// Unsets/sets an environment variable for one scope.
struct EnvGuard {
  std::string name;
  std::optional<std::string> old;
  EnvGuard(std::string n, const std::string* value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    if (value) setenv(name.c_str(), value->c_str(), 1);
    else unsetenv(name.c_str());
  }
  ~EnvGuard() {
    if (old) setenv(name.c_str(), old->c_str(), 1);
    else unsetenv(name.c_str());
  }
};

struct Demo {
  TempDir tmp;
  age::X25519Identity id = age::generateIdentity();
  std::string recipient = age::formatRecipient(id.pub);
  std::vector<age::X25519Identity> ids{id};
  fs::path keyFile = tmp.path / "key.txt";
  Demo() { writeFile(keyFile, "# test key\n" + age::formatIdentity(id) + "\n"); }
};

}  // namespace

TEST_CASE("real sops-produced files decrypt and their MACs verify", "[secrets][sops]") {
  fs::path dir = testdataDir() / "sops-vectors";
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string fn = e.path().string();
    if (fn.size() < 14 || fn.substr(fn.size() - 14) != ".expected.json") continue;
    auto expected = nlohmann::json::parse(readFile(e.path()));
    if (expected["format"] == "ini") continue;  // INI store not supported (YAML/JSON only)
    fs::path file = dir / expected["file"].get<std::string>();
    INFO(file.string());
    auto ids = keysFrom(dir / expected["key_file"].get<std::string>());
    auto format = expected["format"] == "json" ? SopsFormat::kJson : SopsFormat::kYaml;
    auto d = decryptSops(readFile(file), format, ids);
    REQUIRE(d.ok());
    CHECK(d->macPlaintext == expected["mac_plaintext"].get<std::string>());
    const auto& values = expected["values_in_document_order"];
    REQUIRE(d->leaves.size() == values.size());
    for (size_t i = 0; i < values.size(); i++) {
      const auto& want = values[i];
      const auto& got = d->leaves[i];
      INFO(want["path"].get<std::string>());
      CHECK(got.path == colonsToDots(want["path"].get<std::string>()));
      std::string type = want["type"];
      if (type == "unencrypted") {
        CHECK((!got.encrypted || got.value.reveal().empty()));
        CHECK(got.value.reveal() == want["plaintext"].get<std::string>());
      } else {
        CHECK(got.encrypted);
        CHECK(got.aad == want["aad"].get<std::string>());
        CHECK(got.type == type);
        if (type == "bool") CHECK(lower(got.value.reveal()) == lower(want["plaintext"]));
        else CHECK(got.value.reveal() == want["plaintext"].get<std::string>());
      }
    }
    files++;
  }
  CHECK(files == 7);  // example.{yaml,json,txt}, helm-secrets, sops-nix, terraform x2
}

TEST_CASE("sops' own age keysource vector decrypts with the matching identity only", "[secrets][sops][age]") {
  fs::path dir = testdataDir() / "sops-vectors" / "sops-age-keysource-test";
  std::string enc = readFile(dir / "mockEncryptedKey.age");
  age::Identities good, other;
  good.x25519 = keysFrom(dir / "mockIdentity.txt");
  other.x25519 = keysFrom(dir / "mockOtherIdentity.txt");
  auto r = age::decrypt(enc, good);
  REQUIRE(r.ok());
  CHECK(r->reveal() == "data");
  CHECK_FALSE(age::decrypt(enc, other).ok());
}

TEST_CASE("sops key names are listed without any key", "[secrets][sops]") {
  EnvGuard g1("TEND_AGE_KEY_FILE", nullptr), g2("SOPS_AGE_KEY_FILE", nullptr);
  auto names = sopsKeyNames((testdataDir() / "sops-vectors/getsops-sops-examples-age/example.yaml").string());
  REQUIRE(names.ok());
  std::vector<std::string> want = {"myapp1", "app2.db.user", "app2.db.password", "app2.key", "number",
                                   "an_array", "somebooleans", "this.is.a.nested.value",
                                   "somelist_unencrypted", "nested_unencrypted.this.is.all"};
  CHECK(*names == want);
  auto json = sopsKeyNames((testdataDir() / "sops-vectors/getsops-sops-examples-age/example.json").string());
  REQUIRE(json.ok());
  CHECK(std::find(json->begin(), json->end(), "address.city") != json->end());
  CHECK(std::find(json->begin(), json->end(), "sops") == json->end());
}

TEST_CASE("the resolver decrypts lazily, caches and registers values with the redactor", "[secrets][sops]") {
  fs::path dir = testdataDir() / "sops-vectors/getsops-sops-examples-age";
  std::string key = (dir / "keys.txt").string();
  EnvGuard g1("TEND_AGE_KEY_FILE", &key), g2("SOPS_AGE_KEY_FILE", nullptr);
  auto r = openSopsFile((dir / "example.yaml").string());
  REQUIRE(r.ok());
  auto& res = **r;
  CHECK(res.names().size() == 10);
  auto v = res.get("app2.db.password");
  REQUIRE(v.ok());
  CHECK(v->reveal() == "c4r1b0u");
  CHECK(res.get("myapp1")->reveal() == "t00m4nys3cr3tzupdated");
  CHECK(res.get("number")->reveal() == "1234568000");
  CHECK(res.get("nested_unencrypted.this.is.all")->reveal() == "going to remain in clear text");
  auto missing = res.get("nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("nope") != std::string::npos);
  CHECK(tend::Redactor::instance().redact("pw=c4r1b0u;") == "pw=(secret);");

  // substituteSecrets: values substituted; an unknown name is named, no value leaks.
  auto s = tend::substituteSecrets("u=${secret:app2.db.user} p=${secret:app2.db.password}", res);
  REQUIRE(s.ok());
  CHECK(s->reveal() == "u=eve p=c4r1b0u");
  auto bad = tend::substituteSecrets("p=${secret:app2.db.password} q=${secret:missing_one}", res);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("missing_one") != std::string::npos);
  CHECK(bad.error().message.find("c4r1b0u") == std::string::npos);
}

TEST_CASE("the resolver reports a missing key clearly without failing names()", "[secrets][sops]") {
  std::string nokey = "/nonexistent/tend-test-key.txt";
  EnvGuard g1("TEND_AGE_KEY_FILE", &nokey);
  auto r = openSopsFile((testdataDir() / "sops-vectors/helm-secrets/secrets.age.yaml").string());
  REQUIRE(r.ok());
  CHECK((*r)->names().size() == 3);
  auto v = (*r)->get("global_secret");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().message.find("/nonexistent/tend-test-key.txt") != std::string::npos);
}

TEST_CASE("sops files created by tend round-trip with types and rules", "[secrets][sops]") {
  Demo d;
  std::string plain =
      "db_password: hunter2-canary\n"
      "port: 5432\n"
      "ratio: 0.25\n"
      "enabled: true\n"
      "quoted_number: \"5432\"\n"
      "empty: \"\"\n"
      "nothing: null\n"
      "nested:\n"
      "    inner:\n"
      "        token: abc-def\n"
      "list:\n"
      "    - one\n"
      "    - 2\n"
      "public_unencrypted: visible\n"
      "multi: |\n"
      "    line one\n"
      "    line two\n";
  auto enc = sopsEncryptPlain(plain, SopsFormat::kYaml, {d.recipient});
  REQUIRE(enc.ok());
  CHECK(enc->find("hunter2-canary") == std::string::npos);
  CHECK(enc->find("public_unencrypted: visible") != std::string::npos);
  CHECK(enc->find("type:int]") != std::string::npos);
  CHECK(enc->find("type:float]") != std::string::npos);
  CHECK(enc->find("type:bool]") != std::string::npos);
  CHECK(enc->find("empty: \"\"") != std::string::npos);
  CHECK(enc->find("    age:\n        - recipient: " + d.recipient + "\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n") != std::string::npos);
  CHECK(std::regex_search(*enc, std::regex("\n    lastmodified: \"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\"\n    mac: ENC\\[AES256_GCM,data:")));
  // Key order preserved, sops block last.
  CHECK(enc->find("db_password:") < enc->find("port:"));
  CHECK(enc->find("multi:") < enc->find("sops:"));

  auto dec = decryptSops(*enc, SopsFormat::kYaml, d.ids);
  REQUIRE(dec.ok());
  std::map<std::string, std::string> got;
  for (const auto& l : dec->leaves) got[l.path] += l.value.reveal();
  CHECK(got["db_password"] == "hunter2-canary");
  CHECK(got["port"] == "5432");
  CHECK(got["ratio"] == "0.25");
  CHECK(got["enabled"] == "true");
  CHECK(got["quoted_number"] == "5432");
  CHECK(got["nested.inner.token"] == "abc-def");
  CHECK(got["list"] == "one2");
  CHECK(got["multi"] == "line one\nline two\n");

  auto back = decryptSopsToPlain(*enc, SopsFormat::kYaml, d.ids);
  REQUIRE(back.ok());
  CHECK(back->reveal().find("quoted_number: \"5432\"") != std::string::npos);
  CHECK(back->reveal().find("port: 5432") != std::string::npos);
}

TEST_CASE("tampered sops documents are rejected", "[secrets][sops]") {
  Demo d;
  auto enc = sopsEncryptPlain("a: first-value\nb: second-value\nc_unencrypted: clear\n", SopsFormat::kYaml,
                              {d.recipient});
  REQUIRE(enc.ok());
  REQUIRE(decryptSops(*enc, SopsFormat::kYaml, d.ids).ok());

  SECTION("a value's ciphertext changed") {
    std::string t = *enc;
    size_t p = t.find("a: ENC[AES256_GCM,data:") + 23;
    t[p] = t[p] == 'A' ? 'B' : 'A';
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("a") != std::string::npos);
  }
  SECTION("values swapped between keys (AAD binds the key path)") {
    std::regex re("a: (ENC\\[[^\n]*)\nb: (ENC\\[[^\n]*)\n");
    std::string t = std::regex_replace(*enc, re, "a: $2\nb: $1\n");
    REQUIRE(t != *enc);
    CHECK_FALSE(decryptSops(t, SopsFormat::kYaml, d.ids).ok());
  }
  SECTION("an unencrypted value changed (covered by the MAC)") {
    std::string t = std::regex_replace(*enc, std::regex("c_unencrypted: clear"), "c_unencrypted: dirty");
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("MAC mismatch") != std::string::npos);
  }
  SECTION("a value removed") {
    std::string t = std::regex_replace(*enc, std::regex("\nb: ENC\\[[^\n]*"), "");
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("MAC") != std::string::npos);
  }
  SECTION("the MAC changed") {
    std::string t = *enc;
    size_t p = t.find("mac: ENC[AES256_GCM,data:") + 25;
    t[p] = t[p] == 'A' ? 'B' : 'A';
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("MAC") != std::string::npos);
  }
  SECTION("lastmodified changed (it is the MAC's additional data)") {
    std::string t = std::regex_replace(*enc, std::regex("lastmodified: \"\\d{4}"), "lastmodified: \"1999");
    CHECK_FALSE(decryptSops(t, SopsFormat::kYaml, d.ids).ok());
  }
  SECTION("wrong key") {
    auto other = age::generateIdentity();
    auto r = decryptSops(*enc, SopsFormat::kYaml, {other});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(d.recipient) != std::string::npos);
  }
  SECTION("missing sops block") {
    std::string t = enc->substr(0, enc->find("sops:"));
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("no sops metadata") != std::string::npos);
  }
  SECTION("no error message contains a plaintext value") {
    std::string t = std::regex_replace(*enc, std::regex("c_unencrypted: clear"), "c_unencrypted: dirty");
    auto r = decryptSops(t, SopsFormat::kYaml, d.ids);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("first-value") == std::string::npos);
    CHECK(r.error().message.find("second-value") == std::string::npos);
  }
}

TEST_CASE("sops set keeps the data key and other ciphertexts and updates the MAC", "[secrets][sops]") {
  Demo d;
  fs::path file = d.tmp.path / "secrets.sops.yml";
  REQUIRE(sopsSetValue(file.string(), "first", tend::SecretString("value-one"), d.ids, {d.recipient}).ok());
  std::string v1 = readFile(file);
  REQUIRE(sopsSetValue(file.string(), "second", tend::SecretString("value-two"), d.ids, {}).ok());
  std::string v2 = readFile(file);
  // The first value's line and the age stanza are untouched (small git diffs, same data key).
  std::string line1 = v1.substr(0, v1.find('\n'));
  CHECK(v2.find(line1 + "\n") == 0);
  auto enc1 = v1.substr(v1.find("enc: |"), v1.find("-----END") - v1.find("enc: |"));
  CHECK(v2.find(enc1) != std::string::npos);
  CHECK(v2.find("second: ENC[") != std::string::npos);
  REQUIRE(sopsSetValue(file.string(), "first", tend::SecretString("value-one-changed"), d.ids, {}).ok());
  REQUIRE(sopsSetValue(file.string(), "nested.deep", tend::SecretString("n1"), d.ids, {}).ok());
  auto dec = decryptSops(readFile(file), SopsFormat::kYaml, d.ids);
  REQUIRE(dec.ok());
  REQUIRE(dec->leaves.size() == 3);
  CHECK(dec->leaves[0].path == "first");
  CHECK(dec->leaves[0].value.reveal() == "value-one-changed");
  CHECK(dec->leaves[1].value.reveal() == "value-two");
  CHECK(dec->leaves[2].path == "nested.deep");
  CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);
}

TEST_CASE("sops JSON documents round-trip", "[secrets][sops]") {
  Demo d;
  auto enc = sopsEncryptPlain(R"({"b": "x-secret", "a": {"n": 3, "f": 1.5}, "l": [true, "s"]})",
                              SopsFormat::kJson, {d.recipient});
  REQUIRE(enc.ok());
  auto j = nlohmann::ordered_json::parse(*enc);
  CHECK(j.begin().key() == "b");
  CHECK(j["sops"]["age"][0]["recipient"] == d.recipient);
  auto dec = decryptSops(*enc, SopsFormat::kJson, d.ids);
  REQUIRE(dec.ok());
  REQUIRE(dec->leaves.size() == 5);
  CHECK(dec->leaves[0].value.reveal() == "x-secret");
  CHECK(dec->leaves[1].type == "int");
  CHECK(dec->leaves[2].type == "float");
  CHECK(dec->leaves[3].type == "bool");
}

TEST_CASE("encrypted_regex and mac_only_encrypted are honoured", "[secrets][sops]") {
  Demo d;
  SopsRules rules;
  rules.unencryptedSuffix = "";
  rules.encryptedRegex = "^(password|token)$";
  rules.macOnlyEncrypted = true;
  auto enc = sopsEncryptPlain("password: p2-canary\nusername: admin\ntoken: tk-canary\n", SopsFormat::kYaml,
                              {d.recipient}, rules);
  REQUIRE(enc.ok());
  CHECK(enc->find("username: admin\n") != std::string::npos);
  CHECK(enc->find("password: ENC[") != std::string::npos);
  CHECK(enc->find("token: ENC[") != std::string::npos);
  CHECK(enc->find("    encrypted_regex: ^(password|token)$\n") != std::string::npos);
  CHECK(enc->find("    mac_only_encrypted: true\n") != std::string::npos);
  CHECK(enc->find("unencrypted_suffix") == std::string::npos);
  auto dec = decryptSops(*enc, SopsFormat::kYaml, d.ids);
  REQUIRE(dec.ok());
  CHECK(dec->leaves[1].value.reveal() == "admin");
  CHECK_FALSE(dec->leaves[1].encrypted);
  // With mac_only_encrypted, clear values are outside the MAC (as in sops)...
  std::string t = std::regex_replace(*enc, std::regex("username: admin"), "username: root");
  CHECK(decryptSops(t, SopsFormat::kYaml, d.ids).ok());
  // ...but dropping an encrypted value is caught.
  t = std::regex_replace(*enc, std::regex("\ntoken: ENC\\[[^\n]*"), "");
  CHECK_FALSE(decryptSops(t, SopsFormat::kYaml, d.ids).ok());
  // The MAC is seeded differently: flipping the flag breaks verification.
  t = std::regex_replace(*enc, std::regex("mac_only_encrypted: true"), "mac_only_encrypted: false");
  CHECK_FALSE(decryptSops(t, SopsFormat::kYaml, d.ids).ok());
}

TEST_CASE("files tend writes pass an independent sops checker and the age CLI", "[secrets][sops][cli]") {
  if (run("python3 -c 'import yaml, cryptography' 2>/dev/null") != 0)
    tend::testing::skipTest("python3 with PyYAML and cryptography not available");
  tend::testing::requirePrograms({"age"});
  Demo d;
  fs::path checker = testdataDir() / "verify_sops.py";
  auto check = [&](const fs::path& file) {
    // The real age CLI unwraps the data key from the file's first age stanza.
    auto doc = YAML::LoadFile(file.string());
    writeFile(d.tmp.path / "enc.age", doc["sops"]["age"][0]["enc"].as<std::string>());
    REQUIRE(run("age -d -i " + d.keyFile.string() + " -o " + (d.tmp.path / "dk").string() + " " +
                (d.tmp.path / "enc.age").string()) == 0);
    REQUIRE(run("python3 " + checker.string() + " " + file.string() + " " + (d.tmp.path / "dk").string() +
                " > " + (d.tmp.path / "check.out").string()) == 0);
    return readFile(d.tmp.path / "check.out");
  };
  SECTION("YAML with every type, nesting, lists, multi-line and clear values") {
    auto enc = sopsEncryptPlain(
        "s: plain string\nn: 42\nneg: -7\nf: 1234568000.0\nsmall: 0.000001\nb: false\nq: \"007\"\n"
        "yesword: \"yes\"\nnested:\n  a:\n    b: deep\nlist: [x, 2, true]\n"
        "key: |\n  -----BEGIN KEY-----\n  abc\n  -----END KEY-----\n"
        "weird: \"colon: hash # quote \\\" tab\\t\"\nunicode: \"h\\u00e9llo\"\nclear_unencrypted: 12\n",
        SopsFormat::kYaml, {d.recipient});
    REQUIRE(enc.ok());
    writeFile(d.tmp.path / "doc.sops.yaml", *enc);
    CHECK(check(d.tmp.path / "doc.sops.yaml") == "OK 15\n");
  }
  SECTION("after set and replace (reused ciphertexts, new MAC)") {
    fs::path file = d.tmp.path / "s.sops.yml";
    REQUIRE(sopsSetValue(file.string(), "one", tend::SecretString("1111"), d.ids, {d.recipient}).ok());
    REQUIRE(sopsSetValue(file.string(), "two.deep", tend::SecretString("2222"), d.ids, {}).ok());
    REQUIRE(sopsReplacePlain(file.string(), "one: \"1111\"\ntwo:\n  deep: \"2222\"\nthree: 3.5\n", d.ids).ok());
    CHECK(check(file) == "OK 3\n");
  }
  SECTION("encrypted_regex with mac_only_encrypted") {
    SopsRules rules;
    rules.unencryptedSuffix = "";
    rules.encryptedRegex = "^(password|token)$";
    rules.macOnlyEncrypted = true;
    auto enc = sopsEncryptPlain("password: p\nuser: u\ntoken: t\n", SopsFormat::kYaml, {d.recipient}, rules);
    REQUIRE(enc.ok());
    writeFile(d.tmp.path / "r.yaml", *enc);
    CHECK(check(d.tmp.path / "r.yaml") == "OK 2\n");
  }
  SECTION("JSON") {
    auto enc = sopsEncryptPlain(R"({"a": "x", "b": {"c": 1, "d": [1.5, "y"]}})", SopsFormat::kJson, {d.recipient});
    REQUIRE(enc.ok());
    writeFile(d.tmp.path / "j.json", *enc);
    CHECK(check(d.tmp.path / "j.json") == "OK 4\n");
  }
}

// A SOPS file is spec content: a recursive alias crashed every reader (unbounded recursion),
// aliases of aliases repeated a node a billion times.
TEST_CASE("sops documents with a recursive alias, deep nesting or an alias bomb are refused", "[secrets][sops]") {
  TempDir t;
  auto names = [&](const std::string& text, const char* file = "s.sops.yml") {
    writeFile(t.path / file, text);
    return sopsKeyNames((t.path / file).string());
  };
  auto recursive = names("x: &a {y: *a}\nsops: {}\n");
  REQUIRE_FALSE(recursive.ok());
  CHECK(recursive.error().message.find("nested deeper than 64 levels (or a recursive alias)") != std::string::npos);

  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += std::string(j ? ", " : "") + "*l" + std::to_string(i - 1);
    bomb += "]\n";
  }
  auto exploded = names(bomb + "sops: {}\n");
  REQUIRE_FALSE(exploded.ok());
  CHECK(exploded.error().message.find("more than 1000000 nodes") != std::string::npos);

  auto deep = names("{\"sops\": {}, \"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}", "s.sops.json");
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.error().message.find("nested deeper than 64 levels") != std::string::npos);
}
