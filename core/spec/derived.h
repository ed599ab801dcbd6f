#pragma once
// Derived configuration files (docs/derived.md): what one app entry turns into besides
// containers and DNS records — the reverse proxy's Caddyfile, Homepage's four files,
// Prometheus file_sd targets, Grafana datasource provisioning, the apps' own config files.
// Pure functions of the spec model: the same spec renders byte for byte the same files.
// Secrets stay symbolic (`${secret:NAME}`); the host provider resolves them on delivery.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnostic.h"
#include "core/spec/model.h"

namespace tend::spec {

struct DerivedFile {
  std::string kind;  // caddyfile | homepage | file_sd | grafana | app_file
  std::string host;  // the machine it is delivered to
  std::string path;  // absolute path there
  std::string content;
  std::string mode = "0644", owner = "root", group = "root";
  nlohmann::json onChange = nlohmann::json::object();
  std::string app;  // app_file: its app
  SpecLoc loc;      // what the file is configured by
};

// A proxied name and where the proxy sends it.
struct Route {
  std::string name, domain, fqdn;
  std::string backend;  // ADDRESS:PORT
  const ServiceEntry* entry = nullptr;
  std::string app;  // "" for services:
};

// Every enabled, proxied services/expose entry, resolved (unresolvable ones left out:
// validation reports them). Sorted by domain (dns.domains order), then name.
std::vector<Route> proxyRoutes(const Spec& s);
// The backend of any entry (proxied or not): ADDRESS:PORT, "" when unresolvable.
std::string entryBackend(const Spec& s, const ServiceEntry& e, const std::string& appHost);

// Every derived file, in a fixed order (kind, host, path). `secrets` collects referenced names.
std::vector<DerivedFile> deriveFiles(const Spec& s, std::vector<std::string>* secrets = nullptr);
// The files of one app (`files:`), with their content.
std::vector<DerivedFile> appFiles(const Spec& s, const AppSpec& a, std::vector<std::string>* secrets = nullptr);
// Where an app's file goes: absolute, or under <deploy_path>/<app>.
std::string appFilePath(const Spec& s, const AppSpec& a, const std::string& path);

// Stage-2 checks of the keys behind derived files (called by validateSpec).
void validateDerived(const Spec& s, Diagnostics& d);

// A JSON value as block YAML (maps in key order); strings are quoted when YAML would read
// them as something else. Used for Homepage and Grafana files.
std::string toYaml(const nlohmann::ordered_json& v);

}  // namespace tend::spec
