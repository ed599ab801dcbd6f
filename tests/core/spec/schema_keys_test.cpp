// specs/schema/tend.schema.json and the loader must accept the same keys: editors complete
// from the schema, so a key the schema offers must load, and a key the schema lacks must be
// an "unknown key" error. Every object type of the schema ($defs with
// additionalProperties: false) is embedded into a minimal spec directory, once per property,
// and loaded for real.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/spec.h"
#include "tests/support/spec_load.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json readSchema() {
  std::ifstream in(std::string(TEND_SOURCE_DIR) + "/specs/schema/tend.schema.json");
  REQUIRE(in.good());
  return json::parse(in);
}

const json& resolve(const json& root, const json& sch) {
  if (sch.is_object() && sch.contains("$ref")) {
    std::string ref = sch["$ref"].get<std::string>();
    REQUIRE(ref.rfind("#/$defs/", 0) == 0);
    return resolve(root, root["$defs"][ref.substr(8)]);
  }
  return sch;
}

// A value of the right shape for `sch`, so the loader walks into it (a wrong type would stop
// the walk before unknown keys inside are seen).
json sample(const json& root, const json& schIn, int depth = 0) {
  REQUIRE(depth < 20);
  const json& sch = resolve(root, schIn);
  if (sch.contains("examples")) return sch["examples"][0];
  if (sch.contains("enum")) return sch["enum"][0];
  if (sch.contains("anyOf")) {
    for (const auto& alt : sch["anyOf"]) {
      const json& r = resolve(root, alt);
      if (r.value("type", json()) != "null") return sample(root, alt, depth + 1);
    }
  }
  json type = sch.value("type", json("string"));
  if (type.is_array()) type = type[0];
  std::string t = type.get<std::string>();
  if (t == "string") {
    // A pattern without an example would make the sample invalid; the schema must give one.
    INFO("string with a pattern needs 'examples': " << sch.dump());
    REQUIRE_FALSE(sch.contains("pattern"));
    return "x";
  }
  if (t == "integer") return sch.value("minimum", 1);
  if (t == "number") return 1;
  if (t == "boolean") return true;
  if (t == "null") return nullptr;
  if (t == "array") return json::array({sample(root, sch["items"], depth + 1)});
  if (t == "object") {
    json o = json::object();
    if (sch.contains("properties")) {
      for (const auto& r : sch.value("required", json::array())) {
        std::string k = r.get<std::string>();
        o[k] = sample(root, sch["properties"][k], depth + 1);
      }
    } else if (sch.contains("additionalProperties") && sch["additionalProperties"].is_object()) {
      o["k1"] = sample(root, sch["additionalProperties"], depth + 1);
    }
    return o;
  }
  FAIL("unhandled schema type " << t);
  return nullptr;
}

// Where each object type sits in a spec directory: file name -> document, with the string
// "@@" marking the object. Files not named get their empty default.
struct Embedding {
  std::map<std::string, std::string> files;
};

const char* kApp = R"({"host": "h", "containers": {"c1": @@}})";

// The $defs name a property schema refers to ({"$ref"} or {"anyOf": [null, {"$ref"}]}), "" if none.
std::string defNameOf(const json& prop) {
  if (prop.contains("$ref")) {
    std::string ref = prop["$ref"].get<std::string>();
    return ref.rfind("#/$defs/", 0) == 0 ? ref.substr(8) : "";
  }
  if (prop.contains("anyOf"))
    for (const auto& alt : prop["anyOf"]) {
      std::string n = defNameOf(alt);
      if (!n.empty()) return n;
    }
  return "";
}

// Provider sections are placed where the registrations say: `providers.NAME` refers to a $defs
// entry in the schema, and so does each nested section (a Map key) inside it.
void addProviderSections(const json& schema, const std::string& defName, const std::vector<tend::ConfigKey>& keys,
                         const std::string& doc, std::map<std::string, Embedding>& out) {
  if (defName.empty()) return;
  out[defName] = Embedding{{{"environment.yml", doc}}};
  const json& props = schema["$defs"][defName].value("properties", json::object());
  for (const auto& k : keys) {
    if (k.type != tend::ConfigKey::Type::Map || !props.contains(k.name)) continue;
    std::string inner = doc;
    inner.replace(inner.find("@@"), 2, "{\"" + k.name + "\": @@}");
    addProviderSections(schema, defNameOf(props[k.name]), k.keys, inner, out);
  }
}

std::map<std::string, Embedding> embeddings() {
  auto env = [](const std::string& doc) { return Embedding{{{"environment.yml", doc}}}; };
  auto hosts = [](const std::string& doc) { return Embedding{{{"hosts.yml", doc}}}; };
  auto apps = [](const std::string& doc) { return Embedding{{{"apps.yml", doc}}}; };
  auto container = [](const std::string& inContainer) {
    std::string c = R"({"image": "busybox:1.36", )" + inContainer + "}";
    std::string a = kApp;
    a.replace(a.find("@@"), 2, c);
    return Embedding{{{"apps.yml", R"({"apps": {"a1": )" + a + "}}"}}};
  };
  return {
      {"environmentFile", env("@@")},
      {"network", env(R"({"environment": "t", "network": @@})")},
      {"reconcile", env(R"({"environment": "t", "reconcile": @@})")},
      {"providers", env(R"({"environment": "t", "providers": @@})")},
      {"secrets", env(R"({"environment": "t", "secrets": @@})")},
      {"template", env(R"({"environment": "t", "templates": {"t1": @@}})")},
      {"dns", env(R"({"environment": "t", "dns": @@})")},
      {"dnsView", env(R"({"environment": "t", "dns": {"views": {"v1": @@}}})")},
      {"secondaryZone", env(R"({"environment": "t", "dns": {"secondary_zones": [@@]}})")},
      {"dnsRecord", env(R"({"environment": "t", "dns": {"records": [@@]}})")},
      {"service", env(R"({"environment": "t", "services": [@@]})")},
      {"proxy", env(R"({"environment": "t", "proxy": @@})")},
      {"proxyTls", env(R"({"environment": "t", "proxy": {"tls": @@}})")},
      {"proxyDomain", env(R"({"environment": "t", "proxy": {"domains": {"d1": @@}}})")},
      {"dashboard", env(R"({"environment": "t", "dashboard": @@})")},
      {"dashboardNodes", env(R"({"environment": "t", "dashboard": {"host": "x", "node_exporters": @@}})")},
      {"monitoring", env(R"({"environment": "t", "monitoring": @@})")},
      {"nodeExporter", env(R"({"environment": "t", "monitoring": {"host": "x", "node_exporter": @@}})")},
      {"grafana", env(R"({"environment": "t", "monitoring": {"host": "x", "grafana": @@}})")},
      {"homepage", env(R"({"environment": "t", "services": [{"name": "n", "domain": "d", "backend": "x:1", "homepage": @@}]})")},
      {"dnsSoa", env(R"({"environment": "t", "dns": {"soa": @@}})")},
      {"dnsZone", env(R"({"environment": "t", "dns": {"zones": {"z1": @@}}})")},
      {"dnsOptions", env(R"({"environment": "t", "dns": {"options": @@}})")},
      {"appFile", apps(R"({"apps": {"a1": {"host": "h", "files": {"f1": @@}, "containers": {"c1": {"image": "busybox:1.36"}}}}})")},
      {"hostsFile", hosts("@@")},
      {"vm", hosts(R"({"vms": {"v1": @@}})")},
      {"host", hosts(R"({"hosts": {"h1": @@}})")},
      {"group", hosts(R"({"groups": {"g1": @@}})")},
      {"unitState", hosts(R"({"groups": {"g1": {"services": {"u1": @@}}}})")},
      {"file", hosts(R"({"groups": {"g1": {"files": {"/etc/x": @@}}}})")},
      {"onChange", hosts(R"({"groups": {"g1": {"files": {"/etc/x": {"content": "x", "on_change": @@}}}}})")},
      {"appsFile", apps("@@")},
      {"app", apps(R"({"apps": {"a1": @@}})")},
      {"expose", apps(R"({"apps": {"a1": {"host": "h", "expose": [@@], "containers": {"c1": {"image": "busybox:1.36"}}}}})")},
      {"namedVolumeLong", apps(R"({"apps": {"a1": {"host": "h", "volumes": {"v1": @@}, "containers": {"c1": {"image": "busybox:1.36"}}}}})")},
      {"namedNetworkLong", apps(R"({"apps": {"a1": {"host": "h", "networks": {"n1": @@}, "containers": {"c1": {"image": "busybox:1.36"}}}}})")},
      {"container", apps(std::string(R"({"apps": {"a1": )") + kApp + "}}")},
      {"fileObject", apps(R"({"apps": {"a1": {"host": "h", "secrets": {"s1": @@}, "containers": {"c1": {"image": "busybox:1.36"}}}}})")},
      {"fileRefLong", container(R"("secrets": [@@])")},
      {"portLong", container(R"("ports": [@@])")},
      {"volumeLong", container(R"("volumes": [@@])")},
      {"serviceNetworkLong", container(R"("networks": {"n1": @@})")},
      {"healthcheck", container(R"("healthcheck": @@)")},
      {"dependsOnEntry", container(R"("depends_on": {"c1": @@})")},
      {"logging", container(R"("logging": @@)")},
      {"composeFile", Embedding{{{"apps.yml", R"({"apps": {"a1": {"host": "h", "compose": "compose.yml"}}})"},
                                 {"compose.yml", "@@"}}}},
  };
}

std::map<std::string, Embedding> embeddings(const json& schema) {
  auto out = embeddings();
  const json& providers = schema["$defs"]["providers"]["properties"];
  for (const auto& reg : tend::test::builtinRegistry().all())
    if (providers.contains(reg.name))
      addProviderSections(schema, defNameOf(providers[reg.name]), reg.config,
                          R"({"environment": "t", "providers": {")" + reg.name + R"(": @@}})", out);
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tend-schema-keys-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Loads `files` (placeholder replaced by `obj`) and returns every diagnostic line.
std::vector<std::string> loadWith(const Embedding& e, const json& obj) {
  TempDir dir;
  std::map<std::string, std::string> files = {{"environment.yml", R"({"environment": "t"})"}};
  int placed = 0;
  for (const auto& [name, doc] : e.files) {
    std::string text = doc;
    auto at = text.find("@@");
    if (at != std::string::npos) {
      text.replace(at, 2, obj.dump());
      ++placed;
    }
    files[name] = text;
  }
  REQUIRE(placed == 1);
  for (const auto& [name, text] : files) {
    std::ofstream out(dir.path() + "/" + name);
    out << text << "\n";
  }
  static const std::vector<std::string> noSecrets;
  tend::LoadOptions opts;
  opts.secretNames = &noSecrets;
  opts.revision = "schema-keys-test";
  tend::LoadResult r = tend::test::loadSpec(dir.path(), opts);
  std::vector<std::string> lines;
  for (const auto& d : r.diagnostics) lines.push_back(d.str());
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::ostringstream o;
  for (const auto& l : lines) o << "  " << l << "\n";
  return o.str();
}

bool mentionsUnknownKey(const std::vector<std::string>& lines, const std::string& key = "") {
  std::string needle = key.empty() ? "unknown key" : "unknown key '" + key + "'";
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

// The object types whose keys the loader checks.
std::vector<std::string> strictDefs(const json& schema) {
  std::vector<std::string> out;
  for (const auto& [name, d] : schema["$defs"].items())
    if (d.value("type", json()) == "object" && d.contains("properties") &&
        d.value("additionalProperties", json(true)) == json(false))
      out.push_back(name);
  return out;
}

}  // namespace

TEST_CASE("every object type of the schema has a place in the key test", "[core][spec][schema]") {
  json schema = readSchema();
  auto emb = embeddings(schema);
  for (const auto& name : strictDefs(schema)) {
    INFO("schema $defs/" << name << " is not embedded: add it to embeddings() in this test");
    CHECK(emb.count(name) == 1);
  }
}

TEST_CASE("the loader accepts every key the schema offers", "[core][spec][schema]") {
  json schema = readSchema();
  auto emb = embeddings(schema);
  for (const auto& name : strictDefs(schema)) {
    if (!emb.count(name)) continue;
    const json& def = schema["$defs"][name];
    json base = sample(schema, def);
    for (const auto& [key, propSchema] : def["properties"].items()) {
      json obj = base;
      obj[key] = sample(schema, propSchema);
      auto lines = loadWith(emb[name], obj);
      INFO("$defs/" << name << " key '" << key << "' as " << obj.dump() << " gave:\n" << joined(lines));
      CHECK_FALSE(mentionsUnknownKey(lines));
    }
    if (def.contains("patternProperties") && def["patternProperties"].contains("^x-")) {
      json obj = base;
      obj["x-note"] = "extension fields are ignored";
      auto lines = loadWith(emb[name], obj);
      INFO("$defs/" << name << " x- key gave:\n" << joined(lines));
      CHECK_FALSE(mentionsUnknownKey(lines));
    }
  }
}

TEST_CASE("the loader rejects keys the schema does not offer", "[core][spec][schema]") {
  json schema = readSchema();
  auto emb = embeddings(schema);
  // Every key name used anywhere in the schema, tried where it is not allowed: catches a key
  // the loader accepts in one object type but the schema lists only in another.
  std::set<std::string> allKeys;
  for (const auto& name : strictDefs(schema))
    for (const auto& [key, _] : schema["$defs"][name]["properties"].items()) allKeys.insert(key);
  allKeys.insert("zz_not_in_schema");
  for (const auto& name : strictDefs(schema)) {
    if (!emb.count(name)) continue;
    const json& def = schema["$defs"][name];
    std::vector<std::string> all;
    for (const auto& key : allKeys)
      if (!def["properties"].contains(key)) all.push_back(key);
    // In batches: the loader reports at most kMaxDiagnostics errors per load.
    constexpr size_t kBatch = 50;
    for (size_t from = 0; from < all.size(); from += kBatch) {
      json obj = sample(schema, def);
      std::vector<std::string> foreign(all.begin() + static_cast<std::ptrdiff_t>(from),
                                       all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + kBatch)));
      for (const auto& key : foreign) obj[key] = "x";
      auto lines = loadWith(emb[name], obj);
      for (const auto& key : foreign) {
        INFO("$defs/" << name << ": key '" << key << "' is not in the schema but the loader said:\n"
                      << joined(lines));
        CHECK(mentionsUnknownKey(lines, key));
      }
    }
  }
}

namespace {

// The schema type a registered key must have.
void checkKeyType(const json& schema, const json& prop, const tend::ConfigKey& k, const std::string& where) {
  const json& r = resolve(schema, prop.contains("anyOf") ? prop["anyOf"].back() : prop);
  std::string type = r.value("type", json("")).is_string() ? r.value("type", std::string()) : "";
  std::string want;
  switch (k.type) {
    case tend::ConfigKey::Type::String:
    case tend::ConfigKey::Type::Path:
    case tend::ConfigKey::Type::Duration: want = "string"; break;
    case tend::ConfigKey::Type::Integer: want = "integer"; break;
    case tend::ConfigKey::Type::Boolean: want = "boolean"; break;
    case tend::ConfigKey::Type::StringList: want = "array"; break;
    case tend::ConfigKey::Type::Map: want = "object"; break;
  }
  INFO(where << ": registered as " << want << ", schema says " << r.dump());
  CHECK(type == want);
}

void checkSection(const json& schema, const std::string& defName, const std::vector<tend::ConfigKey>& keys,
                  const std::string& where) {
  INFO(where << " ($defs/" << defName << ")");
  REQUIRE_FALSE(defName.empty());
  const json& props = schema["$defs"][defName]["properties"];
  std::set<std::string> registered, offered;
  for (const auto& k : keys) registered.insert(k.name);
  for (const auto& [k, _] : props.items()) offered.insert(k);
  CHECK(registered == offered);
  for (const auto& k : keys) {
    if (!props.contains(k.name)) continue;
    checkKeyType(schema, props[k.name], k, where + "." + k.name);
    if (k.type == tend::ConfigKey::Type::Map) checkSection(schema, defNameOf(props[k.name]), k.keys, where + "." + k.name);
  }
}

}  // namespace

TEST_CASE("the schema's provider sections are the registered ones", "[core][spec][schema]") {
  json schema = readSchema();
  const auto& registry = tend::test::builtinRegistry();
  std::set<std::string> names, inSchema, inParallelism;
  for (const auto& r : registry.all()) names.insert(r.name);
  for (const auto& [k, _] : schema["$defs"]["providers"]["properties"].items()) inSchema.insert(k);
  for (const auto& [k, _] : schema["$defs"]["reconcile"]["properties"]["parallelism"]["properties"].items())
    inParallelism.insert(k);
  CHECK(names == inSchema);
  CHECK(names == inParallelism);
  for (const auto& r : registry.all())
    if (schema["$defs"]["providers"]["properties"].contains(r.name))
      checkSection(schema, defNameOf(schema["$defs"]["providers"]["properties"][r.name]), r.config,
                   "providers." + r.name);
}
