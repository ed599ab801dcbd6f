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
      {"proxmoxProvider", env(R"({"environment": "t", "providers": {"proxmox": @@}})")},
      {"proxmoxTls", env(R"({"environment": "t", "providers": {"proxmox": {"tls": @@}}})")},
      {"sshProvider", env(R"({"environment": "t", "providers": {"ssh": @@}})")},
      {"dockerProvider", env(R"({"environment": "t", "providers": {"docker": @@}})")},
      {"bind9Provider", env(R"({"environment": "t", "providers": {"bind9": @@}})")},
      {"rndc", env(R"({"environment": "t", "providers": {"bind9": {"rndc": @@}}})")},
      {"secrets", env(R"({"environment": "t", "secrets": @@})")},
      {"template", env(R"({"environment": "t", "templates": {"t1": @@}})")},
      {"dns", env(R"({"environment": "t", "dns": @@})")},
      {"dnsView", env(R"({"environment": "t", "dns": {"views": {"v1": @@}}})")},
      {"secondaryZone", env(R"({"environment": "t", "dns": {"secondary_zones": [@@]}})")},
      {"dnsRecord", env(R"({"environment": "t", "dns": {"records": [@@]}})")},
      {"service", env(R"({"environment": "t", "services": [@@]})")},
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
  tend::LoadResult r = tend::loadSpecDir(dir.path(), opts);
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
  auto emb = embeddings();
  for (const auto& name : strictDefs(schema)) {
    INFO("schema $defs/" << name << " is not embedded: add it to embeddings() in this test");
    CHECK(emb.count(name) == 1);
  }
}

TEST_CASE("the loader accepts every key the schema offers", "[core][spec][schema]") {
  json schema = readSchema();
  auto emb = embeddings();
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
  auto emb = embeddings();
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
