#include "providers/docker/payload.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/hash.h"
#include "providers/docker/files.h"

namespace tend::docker {
using nlohmann::json;

namespace {
std::string str(const json& j, const char* key, const std::string& def = "") {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}
bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
int64_t num(const json& j, const char* key, int64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;
  return static_cast<int64_t>(it->get<double>());
}
json strArray(const json& j) {
  json out = json::array();
  if (j.is_array())
    for (auto& x : j) out.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return out;
}
// Compose's string form of command/entrypoint: split on whitespace, honouring simple quotes.
json commandArray(const json& j) {
  if (j.is_array()) return strArray(j);
  if (!j.is_string()) return nullptr;
  json out = json::array();
  std::string cur;
  char quote = 0;
  bool have = false;
  for (char c : j.get<std::string>()) {
    if (quote) {
      if (c == quote) quote = 0; else cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      have = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (have || !cur.empty()) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
    }
  }
  if (have || !cur.empty()) out.push_back(cur);
  return out;
}
}  // namespace

std::string normalizeImageRef(const std::string& ref) {
  std::string r = ref;
  for (const char* p : {"docker.io/library/", "index.docker.io/library/", "docker.io/",
                        "index.docker.io/"}) {
    if (r.rfind(p, 0) == 0) {
      r = r.substr(std::string(p).size());
      break;
    }
  }
  if (r.find('@') != std::string::npos) return r;
  auto slash = r.rfind('/');
  auto colon = r.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) r += ":latest";
  return r;
}

void splitImageRef(const std::string& ref, std::string& name, std::string& tag) {
  auto at = ref.find('@');
  if (at != std::string::npos) {
    name = ref.substr(0, at);
    tag = ref.substr(at + 1);
    return;
  }
  auto slash = ref.rfind('/');
  auto colon = ref.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
    name = ref;
    tag = "latest";  // an empty tag would pull every tag
  } else {
    name = ref.substr(0, colon);
    tag = ref.substr(colon + 1);
  }
}

json ownershipLabels(const DesiredResource& r, const std::string& environment) {
  json labels = json::object();
  const json& spec = r.spec;
  if (spec.contains("labels") && spec["labels"].is_object())
    for (auto& [k, v] : spec["labels"].items()) labels[k] = v.is_string() ? v.get<std::string>() : v.dump();
  labels[kLabelResource] = r.id;
  labels[kLabelEnvironment] = environment;
  labels[kLabelSpecHash] = r.hash;
  return labels;
}

Result<ContainerCreate> buildContainerCreate(const DesiredResource& r,
                                             const std::string& environment) {
  const json& s = r.spec;
  if (str(s, "image").empty()) return makeError(r.id + ": container has no image", true);
  ContainerCreate out;
  json& b = out.body;
  b["Image"] = str(s, "image");
  if (s.contains("command") && !s["command"].is_null()) b["Cmd"] = commandArray(s["command"]);
  if (s.contains("entrypoint") && !s["entrypoint"].is_null())
    b["Entrypoint"] = commandArray(s["entrypoint"]);
  json env = json::array();
  if (s.contains("environment") && s["environment"].is_object()) {
    for (auto& [k, v] : s["environment"].items()) {  // nlohmann objects iterate key-sorted
      if (v.is_null()) env.push_back(k);
      else env.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
    }
  } else if (s.contains("environment") && s["environment"].is_array()) {
    env = strArray(s["environment"]);
  }
  b["Env"] = env;

  json labels = ownershipLabels(r, environment);
  std::string app = str(s, "app"), service = str(s, "service");
  if (!app.empty() && !labels.contains("com.docker.compose.project"))
    labels["com.docker.compose.project"] = app;
  if (!service.empty() && !labels.contains("com.docker.compose.service"))
    labels["com.docker.compose.service"] = service;
  labels["com.docker.compose.oneoff"] = "False";
  labels["com.docker.compose.container-number"] = "1";
  labels["com.docker.compose.config-hash"] = r.hash;
  int64_t grace = num(s, "stop_grace_period_s", 10);
  labels[kLabelStopGrace] = std::to_string(grace);
  b["Labels"] = labels;
  b["StopTimeout"] = grace;

  if (!str(s, "user").empty()) b["User"] = str(s, "user");
  if (flag(s, "tty")) b["Tty"] = true;
  if (flag(s, "stdin_open")) b["OpenStdin"] = true;
  if (!str(s, "stop_signal").empty()) b["StopSignal"] = str(s, "stop_signal");
  if (!str(s, "working_dir").empty()) b["WorkingDir"] = str(s, "working_dir");
  if (!str(s, "hostname").empty()) b["Hostname"] = str(s, "hostname");

  json host = json::object();
  json exposed = json::object(), bindings = json::object();
  if (s.contains("ports") && s["ports"].is_array()) {
    for (auto& p : s["ports"]) {
      std::string proto = str(p, "protocol", "tcp");
      std::string key = std::to_string(num(p, "target")) + "/" + proto;
      exposed[key] = json::object();
      json hb = {{"HostIp", str(p, "host_ip")},
                 {"HostPort", num(p, "published") > 0 ? std::to_string(num(p, "published")) : ""}};
      if (!bindings.contains(key)) bindings[key] = json::array();
      bindings[key].push_back(hb);
    }
  }
  if (s.contains("expose") && s["expose"].is_array()) {
    for (auto& e : s["expose"]) {  // "80", "8000-8002", "53/udp"
      std::string t = e.is_string() ? e.get<std::string>() : e.dump();
      std::string proto = "tcp";
      auto slash = t.find('/');
      if (slash != std::string::npos) {
        proto = t.substr(slash + 1);
        t = t.substr(0, slash);
      }
      auto dash = t.find('-');
      int lo = std::atoi(t.substr(0, dash).c_str());
      int hi = dash == std::string::npos ? lo : std::atoi(t.substr(dash + 1).c_str());
      if (lo <= 0 || hi < lo || hi > 65535) return makeError(r.id + ": invalid expose '" + e.dump() + "'", true);
      for (int port = lo; port <= hi; ++port) exposed[std::to_string(port) + "/" + proto] = json::object();
    }
  }
  if (!exposed.empty()) b["ExposedPorts"] = exposed;
  if (!bindings.empty()) host["PortBindings"] = bindings;

  // Binds (not Mounts): like `docker run -v`, the daemon creates a missing bind source dir.
  json binds = json::array();
  json tmpfs = json::object();
  if (s.contains("volumes") && s["volumes"].is_array()) {
    for (auto& v : s["volumes"]) {
      std::string type = str(v, "type", "volume");
      std::string target = str(v, "target");
      if (target.empty()) return makeError(r.id + ": volume entry without target", true);
      if (type == "tmpfs") {
        std::string o = str(v, "tmpfs");
        if (flag(v, "read_only")) o = o.empty() ? "ro" : o + ",ro";
        tmpfs[target] = o;
        continue;
      }
      std::string src = str(v, "source");
      std::string e = src.empty() ? target : src + ":" + target;  // no source: anonymous
      std::string opts = str(v, "options");
      if (flag(v, "read_only") && !src.empty()) opts = opts.empty() ? "ro" : "ro," + opts;
      if (!opts.empty() && !src.empty()) e += ":" + opts;
      binds.push_back(e);
    }
  }
  if (s.contains("tmpfs") && s["tmpfs"].is_array()) {
    for (auto& t : s["tmpfs"]) {  // "/run" or "/run:size=64m,mode=1777"
      std::string x = t.is_string() ? t.get<std::string>() : t.dump();
      auto colon = x.find(':');
      tmpfs[x.substr(0, colon)] = colon == std::string::npos ? "" : x.substr(colon + 1);
    }
  }
  if (!binds.empty()) host["Binds"] = binds;
  if (!tmpfs.empty()) host["Tmpfs"] = tmpfs;

  std::string restart = str(s, "restart", "no");
  json rp = {{"Name", restart == "no" ? "" : restart}};
  if (restart.rfind("on-failure:", 0) == 0) {
    rp["Name"] = "on-failure";
    rp["MaximumRetryCount"] = std::atoi(restart.substr(11).c_str());
  }
  host["RestartPolicy"] = rp;
  if (s.contains("cap_add") && s["cap_add"].is_array() && !s["cap_add"].empty())
    host["CapAdd"] = strArray(s["cap_add"]);
  if (s.contains("cap_drop") && s["cap_drop"].is_array() && !s["cap_drop"].empty())
    host["CapDrop"] = strArray(s["cap_drop"]);
  if (s.contains("devices") && s["devices"].is_array()) {
    json devs = json::array();
    for (auto& d : s["devices"]) {
      std::string t = d.is_string() ? d.get<std::string>() : "";
      auto a = t.find(':');
      std::string onHost = t.substr(0, a), inC = onHost, perms = "rwm";
      if (a != std::string::npos) {
        auto b2 = t.find(':', a + 1);
        inC = t.substr(a + 1, b2 == std::string::npos ? std::string::npos : b2 - a - 1);
        if (b2 != std::string::npos) perms = t.substr(b2 + 1);
      }
      devs.push_back({{"PathOnHost", onHost}, {"PathInContainer", inC}, {"CgroupPermissions", perms}});
    }
    if (!devs.empty()) host["Devices"] = devs;
  }
  if (s.contains("extra_hosts") && s["extra_hosts"].is_array() && !s["extra_hosts"].empty())
    host["ExtraHosts"] = strArray(s["extra_hosts"]);
  if (s.contains("logging") && s["logging"].is_object()) {
    json lc = {{"Type", str(s["logging"], "driver", "json-file")}, {"Config", json::object()}};
    if (s["logging"].contains("options") && s["logging"]["options"].is_object())
      for (auto& [k, v] : s["logging"]["options"].items())
        lc["Config"][k] = v.is_string() ? v.get<std::string>() : v.dump();
    host["LogConfig"] = lc;
  }
  if (flag(s, "privileged")) host["Privileged"] = true;
  if (num(s, "shm_size") > 0) host["ShmSize"] = num(s, "shm_size");
  if (flag(s, "init")) host["Init"] = true;
  if (flag(s, "read_only")) host["ReadonlyRootfs"] = true;
  if (num(s, "mem_limit") > 0) host["Memory"] = num(s, "mem_limit");
  if (num(s, "mem_reservation") > 0) host["MemoryReservation"] = num(s, "mem_reservation");
  if (s.contains("cpus") && s["cpus"].is_number() && s["cpus"].get<double>() > 0)
    host["NanoCpus"] = static_cast<int64_t>(std::llround(s["cpus"].get<double>() * 1e9));
  auto strList = [&](const char* key, const char* api) {
    if (s.contains(key) && s[key].is_array() && !s[key].empty()) host[api] = strArray(s[key]);
  };
  strList("dns", "Dns");
  strList("security_opt", "SecurityOpt");
  strList("group_add", "GroupAdd");
  if (s.contains("sysctls") && s["sysctls"].is_object() && !s["sysctls"].empty()) {
    json sc = json::object();
    for (auto& [k, v] : s["sysctls"].items()) sc[k] = v.is_string() ? v.get<std::string>() : v.dump();
    host["Sysctls"] = sc;
  }
  // Compose keys already in Engine API form (docs/resources.md `engine`).
  if (s.contains("engine") && s["engine"].is_object()) {
    const json& en = s["engine"];
    if (en.contains("config") && en["config"].is_object())
      for (auto& [k, v] : en["config"].items()) b[k] = v;
    if (en.contains("host_config") && en["host_config"].is_object())
      for (auto& [k, v] : en["host_config"].items()) host[k] = v;
  }

  std::string mode = str(s, "network_mode");
  json endpoints = json::object();
  if (mode.empty()) {
    if (s.contains("networks") && s["networks"].is_object() && !s["networks"].empty()) {
      bool first = true;
      for (auto& [name, cfg] : s["networks"].items()) {
        json ep = json::object();
        if (cfg.is_object() && cfg.contains("aliases") && cfg["aliases"].is_array())
          ep["Aliases"] = strArray(cfg["aliases"]);
        if (cfg.is_object()) {
          json ipam = json::object();
          if (!str(cfg, "ipv4_address").empty()) ipam["IPv4Address"] = str(cfg, "ipv4_address");
          if (!str(cfg, "ipv6_address").empty()) ipam["IPv6Address"] = str(cfg, "ipv6_address");
          if (cfg.contains("link_local_ips") && cfg["link_local_ips"].is_array()) ipam["LinkLocalIPs"] = strArray(cfg["link_local_ips"]);
          if (!ipam.empty()) ep["IPAMConfig"] = ipam;
          if (cfg.contains("driver_opts") && cfg["driver_opts"].is_object()) ep["DriverOpts"] = cfg["driver_opts"];
        }
        if (first) {
          mode = name;
          endpoints[name] = ep;
          first = false;
        } else {
          out.extraNetworks.emplace_back(name, ep);
        }
      }
    } else {
      mode = "bridge";
    }
  }
  host["NetworkMode"] = mode;
  // Links on user-defined networks live in each endpoint (as Compose sends them); the
  // HostConfig field is for the default bridge only.
  if (host.contains("Links") && mode != "bridge" && mode != "default" && mode.rfind("container:", 0) != 0 &&
      mode != "host" && mode != "none") {
    for (auto& [name, ep] : endpoints.items()) ep["Links"] = host["Links"];
    for (auto& [name, ep] : out.extraNetworks) ep["Links"] = host["Links"];
    host.erase("Links");
  }
  b["HostConfig"] = host;
  if (!endpoints.empty()) b["NetworkingConfig"] = {{"EndpointsConfig", endpoints}};

  if (s.contains("healthcheck") && s["healthcheck"].is_object()) {
    const json& h = s["healthcheck"];
    json hc = json::object();
    json test = h.contains("test") ? h["test"] : json();
    if (test.is_string()) test = json::array({"CMD-SHELL", test.get<std::string>()});
    if (flag(h, "disable")) test = json::array({"NONE"});
    hc["Test"] = strArray(test);
    constexpr int64_t ns = 1000000000LL;
    if (num(h, "interval_s") > 0) hc["Interval"] = num(h, "interval_s") * ns;
    if (num(h, "timeout_s") > 0) hc["Timeout"] = num(h, "timeout_s") * ns;
    if (num(h, "retries") > 0) hc["Retries"] = num(h, "retries");
    if (num(h, "start_period_s") > 0) hc["StartPeriod"] = num(h, "start_period_s") * ns;
    b["Healthcheck"] = hc;
  }
  return out;
}

json buildNetworkCreate(const DesiredResource& r, const std::string& environment) {
  const json& s = r.spec;
  json b = {{"Name", str(s, "name")},
            {"CheckDuplicate", true},
            {"Driver", str(s, "driver", "bridge")},
            {"Labels", ownershipLabels(r, environment)}};
  if (flag(s, "internal")) b["Internal"] = true;
  if (flag(s, "attachable")) b["Attachable"] = true;
  if (flag(s, "enable_ipv6")) b["EnableIPv6"] = true;
  if (s.contains("driver_opts") && s["driver_opts"].is_object()) b["Options"] = s["driver_opts"];
  if (s.contains("ipam") && s["ipam"].is_object()) {
    json ipam = {{"Driver", str(s["ipam"], "driver", "default")}, {"Config", json::array()}};
    if (s["ipam"].contains("config") && s["ipam"]["config"].is_array())
      for (auto& c : s["ipam"]["config"]) {
        json e = json::object();
        if (!str(c, "subnet").empty()) e["Subnet"] = str(c, "subnet");
        if (!str(c, "gateway").empty()) e["Gateway"] = str(c, "gateway");
        if (!str(c, "ip_range").empty()) e["IPRange"] = str(c, "ip_range");
        if (c.contains("aux_addresses") && c["aux_addresses"].is_object()) e["AuxiliaryAddresses"] = c["aux_addresses"];
        ipam["Config"].push_back(e);
      }
    if (s["ipam"].contains("options") && s["ipam"]["options"].is_object()) ipam["Options"] = s["ipam"]["options"];
    b["IPAM"] = ipam;
  }
  return b;
}

json buildVolumeCreate(const DesiredResource& r, const std::string& environment) {
  const json& s = r.spec;
  json labels = ownershipLabels(r, environment);
  if (flag(s, "prune_volumes")) labels[kLabelPruneVolume] = "true";
  json b = {{"Name", str(s, "name")}, {"Driver", str(s, "driver", "local")}, {"Labels", labels}};
  if (s.contains("driver_opts") && s["driver_opts"].is_object()) b["DriverOpts"] = s["driver_opts"];
  return b;
}

namespace {
void collectSecretNames(const json& j, std::set<std::string>& out) {
  if (j.is_string()) {
    const std::string& t = j.get_ref<const std::string&>();
    for (size_t p = t.find("${secret:"); p != std::string::npos; p = t.find("${secret:", p + 1)) {
      size_t b = p + 9, e = t.find('}', b);
      if (e == std::string::npos) break;
      out.insert(t.substr(b, e - b));
    }
  } else if (j.is_structured()) {
    for (auto& x : j) collectSecretNames(x, out);
  }
}
}  // namespace

bool referencesSecrets(const json& spec) {
  // Cheap pre-check on the serialized spec (called per container per observe).
  return hasExternalFileSources(spec) || spec.dump().find("${secret:") != std::string::npos;
}

std::vector<std::string> secretNamesIn(const json& spec) {
  std::set<std::string> names;
  collectSecretNames(spec, names);
  return {names.begin(), names.end()};
}

Result<std::string> effectiveSpecHash(const DesiredResource& r, const SecretResolver* secrets,
                                      const std::string& key) {
  auto names = secretNamesIn(r.spec);
  bool external = hasExternalFileSources(r.spec);
  if (names.empty() && !external) return r.hash;
  if (!names.empty() && !secrets)
    return makeError("secret '" + names.front() + "' is referenced but no secrets are configured",
                     true);
  // Length-prefixed fields: no two different (name, value) lists give the same input.
  std::string data;
  auto field = [&data](const std::string& s) {
    data += std::to_string(s.size());
    data += ':';
    data += s;
  };
  field(r.id);
  for (auto& n : names) {
    auto v = secrets->get(n);
    if (!v) {
      OPENSSL_cleanse(data.data(), data.size());
      return makeError("secret '" + n + "': " + v.error().message, v.error().terminal);
    }
    field(n);
    field(v->reveal());
  }
  if (external) {  // Compose secrets and configs read from a file or the environment
    auto files = resolveFiles(r.spec, secrets);
    if (!files) {
      OPENSSL_cleanse(data.data(), data.size());
      return files.error();
    }
    for (const auto& f : *files) {
      field("file:" + f.target);
      field(f.content.reveal());
    }
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  OPENSSL_cleanse(data.data(), data.size());
  static const char* hex = "0123456789abcdef";
  std::string macHex;
  for (unsigned i = 0; i < len; ++i) {
    macHex += hex[mac[i] >> 4];
    macHex += hex[mac[i] & 15];
  }
  OPENSSL_cleanse(mac, sizeof mac);
  return sha256Hex(r.hash + ":" + macHex);
}

Result<void> substituteSecretsInJson(json& j, const SecretResolver* secrets) {
  if (j.is_string()) {
    const std::string& t = j.get_ref<const std::string&>();
    if (t.find("${secret:") == std::string::npos) return {};
    if (!secrets) {
      auto b = t.find("${secret:") + 9;
      return makeError("secret '" + t.substr(b, t.find('}', b) - b) +
                           "' is referenced but no secrets are configured",
                       true);
    }
    auto v = substituteSecrets(t, *secrets);
    if (!v) return v.error();
    j = v->reveal();
    return {};
  }
  if (j.is_object() || j.is_array()) {
    for (auto& x : j) {
      auto r = substituteSecretsInJson(x, secrets);
      if (!r) return r;
    }
  }
  return {};
}

std::string healthFromStatus(const std::string& status) {
  if (status.find("(health: starting)") != std::string::npos) return "starting";
  if (status.find("(unhealthy)") != std::string::npos) return "unhealthy";
  if (status.find("(healthy)") != std::string::npos) return "healthy";
  return "";
}

nlohmann::json parseContainerList(const std::string& body) {
  using nlohmann::json;
  // Depth 0 is the list, 1 a container, 2 a container's keys.
  json::parser_callback_t keep = [](int depth, json::parse_event_t event, json& parsed) {
    if (event != json::parse_event_t::key || depth != 2 || !parsed.is_string()) return true;
    const auto& k = parsed.get_ref<const std::string&>();
    return k == "Id" || k == "Names" || k == "State" || k == "Status" || k == "ImageID" || k == "Labels";
  };
  return json::parse(body, keep, false);
}

std::string containerMessage(const std::string& state, const std::string& status) {
  if (state.empty()) return status;
  if (state == "running") {
    std::string h = healthFromStatus(status);
    if (h.empty()) return state;
    return h == "starting" ? "running (health: starting)" : "running (" + h + ")";
  }
  if (state == "exited" || state == "restarting") {
    // "Exited (3) 2 seconds ago", "Restarting (1) 5 seconds ago": keep the code.
    auto open = status.find(" (");
    auto close = open == std::string::npos ? open : status.find(')', open);
    if (close != std::string::npos) {
      std::string code = status.substr(open + 2, close - open - 2);
      if (!code.empty() && code.find_first_not_of("-0123456789") == std::string::npos)
        return state + " (" + code + ")";
    }
  }
  return state;
}

std::string percentEncode(const std::string& s, std::string_view keep) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string exactNameFilter(const std::string& name) {
  std::string re = "^/";
  for (char c : name) {
    if (c == '.') re += "\\.";
    else re += c;
  }
  return re + "$";
}

}  // namespace tend::docker
