#pragma once
// The typed, immutable spec model. Every value keeps the Location it was written at so that
// validation can point at it. Strings are kept as written (`${...}` unresolved); resolution
// happens in validation (errors) and expansion (values), both with the whole model at hand.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnostic.h"

namespace tend {

// An interned spec file name: one string per distinct file for the life of the process, so
// that the ~10^5 located values of a large spec hold a pointer, not each a copy of the path.
// (Spec files and Compose files are few; the table never needs to shrink.)
class FileName {
 public:
  FileName() = default;
  FileName(const std::string& name);  // NOLINT(google-explicit-constructor): a path is a file name
  const std::string& str() const { return p_ ? *p_ : empty(); }
  operator const std::string&() const { return str(); }  // NOLINT(google-explicit-constructor)
  friend bool operator==(const FileName& a, const FileName& b) { return a.p_ == b.p_ || a.str() == b.str(); }
  friend bool operator==(const FileName& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const std::string& a, const FileName& b) { return a == b.str(); }

 private:
  static const std::string& empty();
  const std::string* p_ = nullptr;
};

// Where a value of the model was written. Converts to the Location diagnostics carry.
struct SpecLoc {
  FileName file;
  int line = 0;  // 1-based; 0 = unknown
  int col = 0;   // 1-based; 0 = unknown
  operator Location() const { return {file.str(), line, col}; }  // NOLINT(google-explicit-constructor)
  std::string str() const { return Location(*this).str(); }
};

template <class T>
struct Val {
  T v{};
  SpecLoc loc;
  bool set = false;
};
using Str = Val<std::string>;
using StrList = std::vector<Str>;

namespace spec {

struct PortSpec {
  std::string hostIp;  // "" = all addresses
  int published = 0;   // 0 = ephemeral
  int target = 0;
  std::string protocol = "tcp";
  SpecLoc loc;
};

struct VolumeMount {
  std::string type;    // bind | volume | tmpfs
  Str source;          // as written (bind: path, volume: name, "" anonymous)
  std::string target;
  bool readOnly = false;
  std::string options;  // bind/volume mode flags after ro: "z", "nocopy", "rshared", ... (comma-separated)
  std::string tmpfsOptions;  // tmpfs: "size=N,mode=0755"
  SpecLoc loc;
};

// A Compose top-level `secrets:` / `configs:` entry (also accepted on an app). Exactly one
// source is set. A secret's value never enters the payload: the Docker provider reads the file
// or the variable when it creates the container.
struct FileObject {
  std::string key;     // the name services refer to
  SpecLoc loc;
  bool secret = true;  // `secrets:` (else `configs:`)
  std::string file;    // file: absolute path inside the spec ("" = not this source)
  Str environment;     // environment: VAR
  Str content;         // content: (configs only), tend's ${...} unresolved
  std::string dotenv;  // the project's .env (environment: looks there after the process environment)
};

// A service's `secrets:` / `configs:` entry: `NAME` or {source, target, uid, gid, mode}.
struct FileRef {
  Str source, target, uid, gid;
  int64_t mode = -1;  // -1: 0444
  SpecLoc loc;
};

struct Healthcheck {
  std::vector<std::string> test;  // ["NONE"] when disabled
  SpecLoc testLoc;
  int64_t intervalS = 30, timeoutS = 30, retries = 3, startPeriodS = 0;
};

struct DependsOn {
  Str service;
  std::string condition;  // "" = derive (healthy when the target has a healthcheck)
  bool required = true;   // false: a dependency on a service that is not there is skipped
};

// Compose `build:` of a service: the image is built through the Engine API's /build from a
// context inside the spec directory, tagged by `contextHash` (so an unchanged context is
// never rebuilt).
struct BuildSpec {
  bool set = false;
  SpecLoc loc;
  std::string context;  // absolute, inside the spec directory
  std::string dockerfile, dockerfileInline, target, network;
  std::map<std::string, std::string> args, labels;
  std::vector<std::string> tags, cacheFrom, extraHosts;
  bool noCache = false, pull = false;
  int64_t shmSize = 0;
  std::string contextHash;  // sha256 of the context (after .dockerignore) and these options
};

// One Compose service (inline `containers:` entry or a service of a compose file).
struct ContainerSpec {
  std::string name;  // service name
  SpecLoc loc;
  Str image;
  Str containerName;
  std::optional<std::vector<Str>> command, entrypoint;
  std::vector<std::pair<std::string, Str>> environment;  // in order; later keys win
  std::vector<PortSpec> ports;
  std::vector<VolumeMount> volumes;
  std::vector<std::pair<Str, std::vector<std::string>>> networks;  // name -> aliases
  bool networksSet = false;
  Str restart;
  std::vector<std::pair<std::string, Str>> labels;
  Str user, workingDir, hostname, networkMode, pullPolicy, stopSignal;
  std::optional<Healthcheck> healthcheck;
  std::vector<Str> capAdd, capDrop, devices, extraHosts, securityOpt, tmpfs, dns, groupAdd, expose;
  std::optional<nlohmann::json> logging;
  std::vector<DependsOn> dependsOn;
  std::map<std::string, std::string> sysctls;
  SpecLoc privilegedLoc;  // where privileged: was written (the operator policy points at it)
  bool privileged = false, tty = false, stdinOpen = false, init = false, readOnly = false;
  int64_t shmSize = 0, memLimit = 0, memReservation = 0;
  double cpus = 0;
  int64_t stopGracePeriodS = 10;
  std::string baseDir;  // bind sources relative to here (spec dir or the compose file's dir)
  // Compose keys with no tend-specific meaning, already in Docker Engine API form: fields of
  // the create body's Config (`config`) and HostConfig (`host_config`). Strings as written
  // (tend's ${...} resolved at expansion). Empty for most services.
  nlohmann::json engine;
  Str ipc, pid;                          // "service:NAME" resolved to the container at expansion
  std::vector<Str> volumesFrom, links;   // "service[:ro]" / "service[:alias]"
  std::map<std::string, nlohmann::json> networkEndpoint;  // network key -> ipv4_address, ...
  std::vector<Str> profiles;
  BuildSpec build;
  std::vector<FileRef> secrets, configs;
};

struct NamedVolume {
  std::string key;   // name in the app
  std::string name;  // docker name ("" = APP_key)
  std::string driver = "local";
  std::map<std::string, std::string> driverOpts;
  std::map<std::string, std::string> labels;
  bool external = false;
  SpecLoc loc;
};

struct NamedNetwork {
  std::string key;
  std::string name;
  std::string driver = "bridge";
  bool external = false;
  // driver_opts, labels, internal, attachable, enable_ipv6, ipam in payload form (present
  // only when written).
  nlohmann::json extra = nlohmann::json::object();
  SpecLoc loc;
};

// An entry of `services:` or an app's `expose:` — a DNS name and maybe a proxy route.
struct ServiceEntry {
  Str name, domain;
  Str backend;        // services: "vmname:port" or "ip:port"
  Val<int64_t> port;  // expose: the app host's port
  bool proxied = false;
  std::string dns;  // "" (default: internal, and external when proxied) | internal | external | both
  bool enabled = true;
  bool tlsSkipVerify = false, forwardHeaders = false;
  std::string hostHeader, encode;
  int64_t readBuffer = 0;
  std::string app;  // "" for services:
  SpecLoc loc;
  // `homepage:` — the entry's dashboard card (docs/derived.md). Kept as written (strings with
  // ${} unresolved); every string leaf also located in homepageStrings for validation.
  bool homepageSet = false, homepageOff = false;
  nlohmann::ordered_json homepage = nlohmann::ordered_json::object();
  std::vector<Str> homepageStrings;
  SpecLoc homepageLoc;
};

// One file an app carries (`files:` of an app): delivered to its host under the app's
// directory before its containers start.
struct AppFile {
  Str path;     // as written; relative = under ${app.dir}
  Str content;  // the text (content: as written, or the template file's text), ${} unresolved
  Str templ;    // `template:` path as written ("" when content: was given)
  std::string mode = "0644", owner = "root", group = "root";
  SpecLoc loc;
};

struct ProxyRoute {
  std::string fqdn;     // bookstack.wil.5am.cloud
  std::string backend;  // 10.2.20.60:8074
  bool tlsSkipVerify = false, forwardHeaders = false;
  std::string hostHeader, encode;
  int64_t readBuffer = 0;
  SpecLoc loc;
};

struct AppSpec {
  std::string name;
  SpecLoc loc;
  Str host;
  Str tier;
  std::vector<ServiceEntry> expose;
  std::vector<ContainerSpec> containers;
  std::vector<NamedVolume> volumes;
  std::vector<NamedNetwork> networks;
  std::vector<FileObject> secrets, configs;  // Compose top-level secrets:/configs: (or the app's)
  Str compose;  // path as written (the first when several)
  std::vector<Str> composeFiles;  // every file of `compose:`, merged in order
  std::vector<Str> profiles;      // Compose profiles this app enables
  std::vector<Str> dependsOn;
  std::vector<AppFile> files;
};

struct VmSpec {
  std::string name;
  SpecLoc loc;
  Val<int64_t> vmid;
  Str templ, ip, tier, dnsName, disk;
  Val<int64_t> cores, memory, sshPort;
  std::vector<Str> tags, groups;
  std::vector<Str> nameservers;  // overrides network.nameservers for this VM
  Val<bool> onboot;
  // Per-VM cloud-init and lifecycle keys; unset = providers.proxmox's.
  Str description, ciuser, searchdomain, restart;
  std::vector<Str> sshKeys;
  bool sshKeysSet = false;
};

struct HostSpec {
  std::string name;
  SpecLoc loc;
  Str address, tier, dnsName;
  Val<int64_t> sshPort;
  std::vector<Str> groups;
};

struct GroupSpec {
  std::string name;
  SpecLoc loc;
  std::vector<Str> packages;
  nlohmann::json services = nlohmann::json::object();
  nlohmann::json files = nlohmann::json::object();
  std::vector<std::pair<std::string, Str>> fileContents;  // path -> content, for ${} checks
  // packages with a state other than present: name -> absent|latest
  std::map<std::string, std::string> packageStates;
  // directories, users, unix_groups, mounts, sysctl, timezone, commands, timers (payload shape)
  nlohmann::json items = nlohmann::json::object();
  // Strings of `items` that may hold ${…}: JSON pointer -> located text (interpolated on expansion)
  std::vector<std::pair<std::string, Str>> itemStrings;
};

struct TemplateSpec {
  std::string name;
  SpecLoc loc;
  Val<int64_t> vmid, cores, memory;
  Str imageUrl, sha256, disk;
};

struct DnsRecord {
  Str name, domain, type, value, view;
  Val<int64_t> ttl;
  SpecLoc loc;
};

struct DnsView {
  std::string name;
  SpecLoc loc;
  std::vector<Str> matchClients;
  Str address;
};

struct SecondaryZone {
  Str name;
  std::vector<Str> primaries;
};

// SOA fields (dns.soa, dns.zones.Z.soa); unset ones fall back (zone -> dns.soa -> defaults).
struct DnsSoa {
  Str rname;
  Val<int64_t> refresh, retry, expire, minimum;
};
struct DnsZoneOpts {
  Str name;
  Val<int64_t> ttl;
  DnsSoa soa;
};
struct ForwardZone {
  Str name;
  std::vector<Str> forwarders;  // empty = dns.forwarders
};

struct DnsSpec {
  bool set = false;
  SpecLoc loc;
  std::vector<Str> domains, forwarders, trusted, reverseZones, transferClients;
  Str reverseProxy;
  std::vector<DnsView> views;
  std::vector<SecondaryZone> secondaryZones;
  std::vector<DnsRecord> records;
  Val<int64_t> ttl;
  DnsSoa soa;
  std::vector<DnsZoneOpts> zones;
  std::vector<ForwardZone> forwardZones;
  // BIND global options (dns.options): querylog, dnssec_validation, listen_on, listen_on_v6.
  nlohmann::json options = nlohmann::json::object();
};

// TLS of the proxy's sites in one domain (proxy.tls, proxy.domains.D.tls).
struct ProxyTls {
  bool set = false;
  SpecLoc loc;
  std::string mode;  // acme (Caddy's automatic HTTPS) | internal | off (plain HTTP) | dns (DNS-01)
  Str provider;      // dns: the Caddy DNS module (cloudflare, …)
  Str token;         // dns: the provider's API token (usually ${secret:…})
  Str propagationDelay, propagationTimeout;
  std::vector<Str> resolvers;
  Str email;
  bool wildcard = true;  // dns: one wildcard certificate for the domain
};

// `proxy:` — the reverse proxy (Caddy) configuration derived from services and exposes.
struct ProxySpec {
  bool set = false;
  SpecLoc loc;
  Str host;   // default dns.reverse_proxy
  Str file;   // default /etc/caddy/Caddyfile
  Str admin, email;
  Val<int64_t> httpPort, httpsPort;
  std::vector<Str> global;  // extra global option lines, verbatim
  ProxyTls tls;             // every domain
  std::vector<std::pair<Str, ProxyTls>> domains;  // per-domain override
  nlohmann::json onChange = nlohmann::json::object();
  Str mode;
};

// `dashboard:` — Homepage configuration files.
struct DashboardSpec {
  bool set = false;
  SpecLoc loc;
  Str host, dir;
  // As written, in file order (Homepage's layout order is its group order).
  nlohmann::ordered_json settings = nlohmann::ordered_json::object();  // settings.yaml (title, theme, layout, …)
  nlohmann::ordered_json widgets = nlohmann::ordered_json::array();
  nlohmann::ordered_json bookmarks = nlohmann::ordered_json::array();
  std::vector<Str> strings;  // every string leaf of the three, located
  nlohmann::json onChange = nlohmann::json::object();
  Str mode;
  // node_exporters: one card per scrape target (monitoring.node_exporter) with a CPU gauge.
  bool nodeCards = false;
  Str nodeGroup, nodeUrl;
};

// `monitoring:` — Prometheus file_sd targets and Grafana datasource provisioning.
struct MonitoringSpec {
  bool set = false;
  SpecLoc loc;
  Str host, fileSdDir;
  Val<int64_t> nodeExporterPort;
  std::vector<Str> exclude;  // machines without a node exporter
  Str tendTarget;            // tend's own /metrics: MACHINE:PORT or IP:PORT
  Str grafanaFile, prometheusUrl;
};

struct Tier {
  std::vector<Str> names;  // one wave
};

struct ProviderSpec {
  std::string name;
  SpecLoc loc;
  nlohmann::json config = nlohmann::json::object();  // validated keys, strings as written
  // dotted key -> string value (for reference checks); path-typed keys are "path:dotted".
  std::map<std::string, Str> strings;
};

}  // namespace spec

struct Spec {
  std::string dir;     // as given
  std::string absDir;  // absolute
  std::vector<std::string> files;  // spec files read (shown paths), for the revision hash

  Str environment, timezone, deployPath;
  Str cidr, gateway;
  std::vector<Str> nameservers;
  Val<int64_t> intervalS;
  Val<bool> prune;
  std::map<std::string, Val<int64_t>> parallelism;
  std::map<std::string, Val<int64_t>> callTimeoutS;  // reconcile.call_timeout, by provider
  std::vector<spec::Tier> tiers;
  std::map<std::string, spec::ProviderSpec> providers;
  Str secretsFile;
  std::vector<spec::TemplateSpec> templates;
  spec::DnsSpec dns;
  std::vector<spec::ServiceEntry> services;
  spec::ProxySpec proxy;
  spec::DashboardSpec dashboard;
  spec::MonitoringSpec monitoring;

  std::vector<spec::VmSpec> vms;
  std::vector<spec::HostSpec> hosts;
  std::vector<spec::GroupSpec> groups;
  std::vector<spec::AppSpec> apps;

  // Derived at validation time.
  std::vector<std::string> secretNamesKnown;  // from the SOPS file or LoadOptions
  bool secretNamesAvailable = false;
  std::vector<spec::ProxyRoute> proxyRoutes;  // proxied services and exposes

  const spec::VmSpec* vm(const std::string& n) const;
  const spec::HostSpec* host(const std::string& n) const;
  const spec::AppSpec* app(const std::string& n) const;
  const spec::TemplateSpec* templ(const std::string& n) const;
  const spec::GroupSpec* group(const std::string& n) const;
  // The address of a vm (ip) or host (address); "" when the name is neither.
  std::string addressOf(const std::string& machine) const;
  int tierIndex(const std::string& tierName) const;  // -1 when unknown
  int lastTier() const { return tiers.empty() ? 0 : static_cast<int>(tiers.size()) - 1; }
  void buildIndex();  // fills the name indexes below; called once by the loader

  std::unordered_map<std::string, size_t> vmIdx, hostIdx, appIdx, templIdx, groupIdx, tierIdx;
};

}  // namespace tend
