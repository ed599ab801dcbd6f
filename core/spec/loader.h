#pragma once
// Internal interfaces between the spec loader stages (load -> validate -> expand).
#include <string>

#include "core/hash.h"
#include "core/provider.h"
#include "core/resource.h"
#include "core/spec/model.h"
#include "core/spec/ytree.h"

namespace tend::spec {

// Stage 1: files into the typed model (unknown keys, wrong types, malformed YAML).
void readEnvironment(const YDoc& doc, Spec& s, Diagnostics& d, const ProviderRegistry& providers);
void readHosts(const YDoc& doc, Spec& s, Diagnostics& d);
// apps.yml. `alreadyRead`: keys of `apps` entries read before (by readApp, in file order, while
// the file was still being parsed); they are skipped.
void readApps(const YDoc& doc, Spec& s, Diagnostics& d, const std::vector<const YNode*>* alreadyRead = nullptr);
class Walker;
// One entry of apps.yml's `apps` (name key, value): appended to s.apps when it is a mapping.
void readApp(Walker& w, const YNode* k, const YNode* av, Spec& s, Diagnostics& d);
// derived_load.cpp: keys that feed derived files (proxy, dashboard, monitoring, homepage,
// app files) and the DNS fidelity keys (readDnsExtra: true when it took the key).
void readProxy(Walker& w, const YNode* x, Spec& s);
void readDashboard(Walker& w, const YNode* x, Spec& s);
void readMonitoring(Walker& w, const YNode* x, Spec& s);
void readHomepage(Walker& w, const YNode* x, ServiceEntry& e);
void readAppFiles(Walker& w, const YNode* x, AppSpec& a, const Spec& s);
bool readDnsExtra(Walker& w, const YNode* k, const YNode* x, DnsSpec& d);
// The key names of a SOPS file: top-level keys except `sops`, nested maps as dotted paths.
bool readSopsKeyNames(const std::string& path, std::vector<std::string>& out, std::string& err);

// Stage 2: cross-file rules and reference resolution. Fills proxyRoutes.
void validateSpec(Spec& s, Diagnostics& d, const ProviderRegistry& providers);

// ${...} resolution. `app` is "" outside apps. Unknown references and unknown secrets are
// reported at `loc` when `d` is non-null. `secrets` collects referenced secret names.
std::string interpolate(const Spec& s, const std::string& text, const SpecLoc& loc,
                        const std::string& app, Diagnostics* d,
                        std::vector<std::string>* secrets = nullptr);

// Stage 3: the desired-resource DAG. Reports cycles into `d` (then returns null).
std::shared_ptr<DesiredGraph> expandSpec(const Spec& s, Diagnostics& d, const ProviderRegistry& providers);

// The same, app by app: for expanding each app as soon as it is read, while the rest of
// apps.yml is still being parsed. The constructor expands everything that is not an app
// (s must hold every file but apps.yml); app() takes the apps in file order; finish(), once
// s.apps is complete (and s indexed), does what spans apps and returns what expandSpec would.
struct Expander;
class Expansion {
 public:
  Expansion(const Spec& s, Diagnostics& d, const ProviderRegistry& providers);
  ~Expansion();
  Expansion(const Expansion&) = delete;
  Expansion& operator=(const Expansion&) = delete;
  void app(const AppSpec& a);
  std::shared_ptr<DesiredGraph> finish();

 private:
  std::unique_ptr<Expander> e_;
};

using ::tend::sha256Hex;  // core/hash.h
std::string joinPath(const std::string& dir, const std::string& rel);
// A file the spec names (`rel`, relative to `base`), resolved with symlinks inside the spec
// directory `root` (absolute, symlinks resolved): the spec is content others push, and what
// it names is read into the model and its messages. Absolute paths, and paths or symlinks
// leading out of `root`, are refused (`error` says why, never what is there).
struct SpecFile {
  std::string path;   // where to read it (symlinks resolved when it exists)
  bool missing = false;
  std::string error;  // non-empty: refused
};
SpecFile confinePath(const std::string& root, const std::string& base, const std::string& rel);
// Absolute path of `rel` relative to the spec dir (or already absolute).
std::string absPath(const Spec& s, const std::string& rel);
// The domain of an fqdn among dns.domains (longest suffix match), "" when none.
std::string domainOf(const Spec& s, const std::string& fqdn);
bool isIpv4(const std::string& s);
bool isIp(const std::string& s);
// "10.2.20.0/24" -> network/prefix; false when invalid.
bool parseCidr(const std::string& s, uint32_t& net, int& prefix);
bool ipv4ToU32(const std::string& s, uint32_t& out);

}  // namespace tend::spec
