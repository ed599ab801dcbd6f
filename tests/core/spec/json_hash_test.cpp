// The streamed resource hash must equal sha256(dump()) byte for byte: providers and the state
// store compare hashes across versions.
#include <catch2/catch.hpp>

#include "core/hash.h"
#include "core/spec.h"
#include "core/spec/json_hash.h"
#include "tests/core/spec/spec_test_util.h"

using nlohmann::json;

namespace {
std::string viaDump(const json& j) { return tend::sha256Hex(j.dump()); }
}  // namespace

TEST_CASE("the streamed payload hash equals sha256 of dump() for every kind of value", "[spec][hash]") {
  std::vector<json> values = {
      nullptr, true, false, 0, -1, 42, INT64_MIN, INT64_MAX, UINT64_MAX, 0.0, 1.5, -2.25e-9, 1e300,
      "", "plain", "quote\"inside", "back\\slash", "tab\there", "nl\nx", "\x01\x1f ctrl", "del\x7f",
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac", "eight888", "sixteen-chars-ok", "longer than eight with \" late",
      "abcdefgh\\", "abcdefg\x19", "0123456789abcdef0123456789abcdef\n",
      json::array(), json::object(), json::array({1, "a", nullptr, json::object({{"k", "v"}})}),
      json::object({{"b", 1}, {"a", json::array({json::array(), json::object()})}, {"k\"ey", "v\\al"}, {"\xc3\xa9", 2}}),
  };
  std::string big;
  for (int i = 0; i < 3000; ++i) big += static_cast<char>(0x20 + i % 90);
  values.push_back(big);  // crosses the writer's buffer
  json nested = json::object();
  for (int i = 0; i < 500; ++i) nested["key" + std::to_string(i)] = json::array({i, big.substr(0, i), i * 0.5});
  values.push_back(nested);
  // Every byte value in every position of a word.
  for (int c = 0; c < 256; ++c)
    for (int pos = 0; pos < 9; ++pos) {
      std::string s(9, 'x');
      s[pos] = static_cast<char>(c);
      json j;
      try {
        j = s;
        (void)j.dump();
      } catch (const json::exception&) {
        continue;  // invalid UTF-8 alone: checked below
      }
      values.push_back(j);
    }
  for (const auto& v : values) {
    INFO(v.dump());
    CHECK(tend::spec::jsonSha256Hex(v) == viaDump(v));
  }
}

TEST_CASE("the streamed payload hash rejects invalid UTF-8 as dump() does", "[spec][hash]") {
  json j = json::object({{"k", std::string("bad \xff byte")}});
  CHECK_THROWS_AS(j.dump(), json::type_error);
  CHECK_THROWS_AS(tend::spec::jsonSha256Hex(j), json::type_error);
}

TEST_CASE("every expanded resource of the example specs hashes as sha256 of its dumped payload, defaults filled in", "[spec][hash]") {
  for (const char* dir : {"specs/local", "specs/wil"}) {
    tend::LoadOptions o;
    o.revision = "test";
    auto r = tend::test::loadSpec(std::string(TEND_SOURCE_DIR) + "/" + dir, o);
    if (!r.ok()) continue;  // the wil spec needs its secret names; local must load
    REQUIRE(!r.graph->resources.empty());
    for (const auto& res : r.graph->resources) {
      INFO(res.id);
      // Fields left out at their default are hashed as if present (docs/resources.md).
      CHECK(res.hash == viaDump(tend::spec::withDefaults(res.spec, tend::spec::payloadDefaults(res.kind))));
    }
  }
  auto r = tend::test::loadSpec(std::string(TEND_SOURCE_DIR) + "/specs/local");
  REQUIRE(r.ok());
}

TEST_CASE("a payload hashed with defaults equals the dump of the payload with them filled in", "[spec][hash]") {
  const auto& defs = tend::spec::payloadDefaults("container");
  REQUIRE(defs.size() > 20);
  for (size_t i = 1; i < defs.size(); ++i) CHECK(defs[i - 1].key < defs[i].key);
  CHECK(tend::spec::payloadDefaults("image").empty());
  json full = json::object({{"app", "a"}, {"image", "busybox"}, {"name", "a-web"}, {"zzz", 1}});
  for (const auto& d : defs) full[d.key] = d.value;
  json compact = {{"app", "a"}, {"image", "busybox"}, {"name", "a-web"}, {"zzz", 1}};
  CHECK(tend::spec::jsonSha256Hex(compact, defs) == viaDump(full));
  CHECK(tend::spec::withDefaults(compact, defs) == full);
  // A present field wins over its default; a non-object is hashed as is.
  json set = compact;
  set["user"] = "1000";
  json fullSet = full;
  fullSet["user"] = "1000";
  CHECK(tend::spec::jsonSha256Hex(set, defs) == viaDump(fullSet));
  CHECK(tend::spec::jsonSha256Hex(json::array({1}), defs) == viaDump(json::array({1})));
  // Default means same type and value: 0 is not the default 0.0, -0.0 dumps differently.
  CHECK(tend::spec::isDefaultValue(0.0, json(0.0)));
  CHECK_FALSE(tend::spec::isDefaultValue(0, json(0.0)));
  CHECK_FALSE(tend::spec::isDefaultValue(-0.0, json(0.0)));
  CHECK_FALSE(tend::spec::isDefaultValue(json::object(), json::array()));
  CHECK(tend::spec::isDefaultValue(json::array(), json::array()));
}

TEST_CASE("a large spec (hashed on a second thread) hashes every resource as its canonical dump", "[spec][hash]") {
  tend::testing::TempSpecDir d;
  d.write("environment.yml",
          "environment: big\nproviders:\n  docker: { transport: \"unix:/var/run/docker.sock\" }\n");
  std::string hosts = "hosts:\n", apps = "apps:\n";
  for (int i = 0; i < 60; ++i) {
    hosts += "  h" + std::to_string(i) + ": { address: 127.0.1." + std::to_string(i + 1) + " }\n";
    apps += "  a" + std::to_string(i) + ":\n    host: h" + std::to_string(i) + "\n    containers:\n";
    for (int c = 0; c < 3; ++c)
      apps += "      c" + std::to_string(c) + ": { image: \"busybox:1." + std::to_string(c) +
              "\", user: \"" + std::to_string(1000 + c) + "\", environment: { N: \"" + std::to_string(c) +
              "\" }" + (c ? ", depends_on: [c0]" : "") + " }\n";
  }
  d.write("hosts.yml", hosts);
  d.write("apps.yml", apps);
  auto r = tend::test::loadSpec(d.path());
  REQUIRE(r.ok());
  REQUIRE(r.graph->resources.size() >= 300);
  for (const auto& res : r.graph->resources) {
    INFO(res.id);
    CHECK(res.hash == viaDump(tend::spec::withDefaults(res.spec, tend::spec::payloadDefaults(res.kind))));
  }
  // Same input, same hashes, in the same order.
  auto again = tend::test::loadSpec(d.path());
  REQUIRE(again.ok());
  REQUIRE(again.graph->resources.size() == r.graph->resources.size());
  for (size_t i = 0; i < r.graph->resources.size(); ++i) CHECK(again.graph->resources[i].hash == r.graph->resources[i].hash);
}
