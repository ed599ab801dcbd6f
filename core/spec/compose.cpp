#include "core/spec/compose.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/spec/build_context.h"
#include "core/spec/compose_env.h"
#include "core/spec/loader.h"

namespace tend::spec {

namespace {

bool validIp(const std::string& s) {
  in_addr a4{};
  in6_addr a6{};
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

bool parsePortNum(const std::string& s, int& lo, int& hi) {
  auto dash = s.find('-');
  int64_t a = 0, b = 0;
  if (dash == std::string::npos) {
    if (!parseInt(s, a)) return false;
    b = a;
  } else {
    if (!parseInt(s.substr(0, dash), a) || !parseInt(s.substr(dash + 1), b)) return false;
  }
  if (a < 1 || b > 65535 || b < a) return false;
  lo = static_cast<int>(a);
  hi = static_cast<int>(b);
  return true;
}

}  // namespace

bool readComposeText(const std::string& specRoot, const std::string& baseDir, const std::string& rel,
                  std::string& text, std::string& why, bool& missing) {
  SpecFile f = confinePath(specRoot, baseDir, rel);
  missing = false;
  if (!f.error.empty()) {
    why = f.error;
    return false;
  }
  struct stat st {};
  if (f.missing || ::stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    missing = true;
    why = "not found";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxSpecFileBytes) {
    why = "larger than 4 MiB";
    return false;
  }
  std::ifstream in(f.path, std::ios::binary);
  if (!in) {
    why = "cannot be read";
    return false;
  }
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

namespace {

// A literal value that tend's own ${...} pass must leave as it is.
std::string escapeDollars(const std::string& v) {
  if (v.find('$') == std::string::npos) return v;
  std::string out;
  for (char ch : v) {
    out += ch;
    if (ch == '$') out += '$';
  }
  return out;
}

void readEnvFile(Walker& w, const Str& file, bool required, bool raw, const std::string& baseDir,
                 const std::string& specRoot, const ComposeVars* vars, ContainerSpec& c) {
  std::string text, why;
  bool missing = false;
  if (!readComposeText(specRoot, baseDir, file.v, text, why, missing)) {
    if (missing && !required) return;
    w.diags().push_back({Severity::Error, file.loc, "env_file '" + file.v + "'" + (missing ? " " + why : ": " + why)});
    return;
  }
  std::vector<std::pair<std::string, std::string>> kv;
  std::string err;
  auto lookup = [vars](const std::string& n) -> std::optional<std::string> {
    return vars ? vars->get(n) : std::nullopt;
  };
  if (raw) {  // format: raw: KEY=VALUE lines taken as they are
    size_t pos = 0;
    while (pos < text.size()) {
      size_t e = text.find('\n', pos);
      std::string line = text.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
      pos = e == std::string::npos ? text.size() : e + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      kv.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    }
  } else if (!parseDotenv(text, lookup, kv, err)) {
    w.diags().push_back({Severity::Error, file.loc, "env_file '" + file.v + "': " + err});
    return;
  }
  for (auto& [k, v] : kv) {
    Str s;
    s.v = escapeDollars(v);
    s.loc = file.loc;
    s.set = true;
    c.environment.emplace_back(k, s);
  }
}

void readEnvFiles(Walker& w, const YNode* x, const std::string& baseDir, const std::string& specRoot,
                  const ComposeVars* vars, ContainerSpec& c) {
  auto one = [&](const YNode* it) {
    if (it->isScalar()) {
      readEnvFile(w, w.str(it, "env_file"), true, false, baseDir, specRoot, vars, c);
      return;
    }
    if (!w.needMap(it, "env_file entry")) return;
    Str path;
    bool required = true, raw = false;
    w.fields(it, "env_file entry",
             {{"path", [&](const YNode* a) { path = w.str(a, "path"); }},
              {"required", [&](const YNode* a) { required = w.boolean(a, "required").v; }},
              {"format", [&](const YNode* a) {
                 Str f = w.str(a, "format");
                 if (f.set && f.v != "raw" && f.v != "dotenv" && !f.v.empty())
                   w.err(a, "unsupported env_file format '" + f.v + "' (dotenv or raw)");
                 raw = f.v == "raw";
               }}});
    if (!path.set) {
      w.err(it, "env_file entry is missing required key 'path'");
      return;
    }
    readEnvFile(w, path, required, raw, baseDir, specRoot, vars, c);
  };
  if (x->isSeq()) {
    for (const YNode* it : x->items) one(it);
  } else if (x->isScalar()) {
    one(x);
  } else {
    w.typeErr(x, "env_file", "a string or a list");
  }
}

// "k=v" list or k: v map into pairs (labels, environment, sysctls).
void readKv(Walker& w, const YNode* v, const std::string& key, const std::string& ctx,
            std::vector<std::pair<std::string, Str>>& out) {
  if (v->isMap()) {
    for (const auto& [k, x] : v->pairs) {
      Str s;
      s.loc = w.loc(x);
      s.set = true;
      if (x->isNull()) s.v = "";
      else if (x->isScalar()) s.v = x->value;
      else {
        w.typeErr(x, key + "." + k->value, "a string");
        continue;
      }
      out.emplace_back(k->value, std::move(s));
    }
  } else if (v->isSeq()) {
    for (const YNode* it : v->items) {
      if (!it->isScalar()) {
        w.typeErr(it, key + " entry", "a string KEY=VALUE");
        continue;
      }
      auto eq = it->value.find('=');
      Str s;
      s.loc = w.loc(it);
      s.set = true;
      s.v = eq == std::string::npos ? "" : it->value.substr(eq + 1);
      out.emplace_back(it->value.substr(0, eq), std::move(s));
    }
  } else {
    w.typeErr(v, key, "a mapping or a list");
  }
}

void readPorts(Walker& w, const YNode* v, const std::string& ctx, ContainerSpec& c) {
  if (!w.needSeq(v, "ports")) return;
  for (const YNode* it : v->items) {
    if (it->isScalar()) {
      std::vector<PortSpec> ps;
      if (!parsePortString(it->value, ps)) {
        w.err(it, "invalid port '" + it->value + "' in " + ctx);
        continue;
      }
      for (auto& p : ps) {
        p.loc = w.loc(it);
        c.ports.push_back(p);
      }
    } else if (it->isMap()) {
      PortSpec p;
      p.loc = w.loc(it);
      bool ok = true;
      std::string ctxp = "port of " + ctx;
      w.fields(it, ctxp,
               {{"target", [&](const YNode* x) { auto n = w.integer(x, "target", 1, 65535); ok &= n.set; p.target = static_cast<int>(n.v); }},
                {"published", [&](const YNode* x) {
                   int lo = 0, hi = 0;
                   if (!x->isScalar() || !parsePortNum(x->value, lo, hi) || lo != hi) {
                     w.err(x, "invalid published port in " + ctxp);
                     ok = false;
                   } else {
                     p.published = lo;
                   }
                 }},
                {"host_ip", [&](const YNode* x) {
                   auto s = w.str(x, "host_ip");
                   if (s.set && !validIp(s.v)) {
                     w.err(x, "invalid host_ip '" + s.v + "' in " + ctxp);
                     ok = false;
                   }
                   p.hostIp = s.v;
                 }},
                {"protocol", [&](const YNode* x) {
                   auto s = w.str(x, "protocol");
                   if (s.set && s.v != "tcp" && s.v != "udp" && s.v != "sctp") {
                     w.err(x, "invalid protocol '" + s.v + "' in " + ctxp + " (tcp, udp or sctp)");
                     ok = false;
                   }
                   if (s.set) p.protocol = s.v;
                 }},
                {"mode", [&](const YNode* x) {
                   auto s = w.str(x, "mode");
                   // "host" is what the Engine does for a published port; "ingress" is swarm's.
                   if (s.set && s.v != "host") {
                     w.err(x, "port mode '" + s.v + "' in " + ctxp + " is not supported: only 'host' (ingress is Swarm's routing mesh)");
                     ok = false;
                   }
                 }},
                {"name", [&](const YNode* x) {
                   w.err(x, "'name' of a port in " + ctx + " is not applied by the Docker Engine (it has nowhere to keep it): remove it");
                   ok = false;
                 }},
                {"app_protocol", [&](const YNode* x) {
                   w.err(x, "'app_protocol' of a port in " + ctx + " is not applied by the Docker Engine (it has nowhere to keep it): remove it");
                   ok = false;
                 }}});
      if (p.target == 0 && ok) {
        w.err(it, "port of " + ctx + " is missing required key 'target'");
        ok = false;
      }
      if (ok) c.ports.push_back(p);
    } else {
      w.typeErr(it, "ports entry", "a string or a mapping");
    }
  }
}

bool isBindSource(const std::string& s) {
  return !s.empty() && (s[0] == '/' || s[0] == '.' || s[0] == '~' || s[0] == '$');
}

bool validVolumeName(const std::string& s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-') return false;
  return true;
}

bool isMountFlag(const std::string& m) {
  static const std::set<std::string> flags = {"z",        "Z",      "nocopy", "rshared", "shared", "rslave", "slave",
                                              "rprivate", "private", "cached", "delegated", "consistent"};
  return flags.count(m) > 0;
}

void addOption(std::string& opts, const std::string& o) {
  if (!opts.empty()) opts += ',';
  opts += o;
}

void readVolumes(Walker& w, const YNode* v, const std::string& ctx, ContainerSpec& c) {
  if (!w.needSeq(v, "volumes")) return;
  for (const YNode* it : v->items) {
    VolumeMount m;
    m.loc = w.loc(it);
    m.source.loc = m.loc;
    if (it->isScalar()) {
      auto parts = splitColons(it->value);
      if (parts.empty() || parts.size() > 3 || parts.back().empty()) {
        w.err(it, "invalid volume '" + it->value + "' in " + ctx);
        continue;
      }
      if (parts.size() == 1) {
        m.type = "volume";
        m.target = parts[0];
      } else {
        m.source.v = parts[0];
        m.source.set = true;
        m.target = parts[1];
        m.type = isBindSource(parts[0]) ? "bind" : "volume";
        if (parts[0].empty()) {
          w.err(it, "volume '" + it->value + "' in " + ctx + " has an empty source");
          continue;
        }
        if (parts.size() == 3) {
          bool okMode = true;
          size_t pos = 0;
          std::string modes = parts[2] + ",";
          while (pos < modes.size()) {
            auto comma = modes.find(',', pos);
            std::string mode = modes.substr(pos, comma - pos);
            pos = comma + 1;
            if (mode == "ro") m.readOnly = true;
            else if (mode == "rw") continue;
            else if (isMountFlag(mode)) addOption(m.options, mode);
            else okMode = false;
          }
          if (!okMode) {
            w.err(it, "invalid volume mode '" + parts[2] + "' in " + ctx);
            continue;
          }
        }
      }
    } else if (it->isMap()) {
      std::string ctxv = "volume of " + ctx;
      bool bad = false;
      w.fields(it, ctxv,
               {{"type", [&](const YNode* x) { m.type = w.str(x, "type").v; }},
                {"source", [&](const YNode* x) { m.source = w.str(x, "source"); }},
                {"target", [&](const YNode* x) { m.target = w.str(x, "target").v; }},
                {"read_only", [&](const YNode* x) { m.readOnly = w.boolean(x, "read_only").v; }},
                {"consistency", [&](const YNode* x) {
                   Str cs = w.str(x, "consistency");
                   if (cs.set && cs.v != "consistent" && cs.v != "cached" && cs.v != "delegated" && cs.v != "default") {
                     w.err(x, "invalid consistency '" + cs.v + "' in " + ctxv);
                     bad = true;
                   } else if (cs.set && cs.v != "default") {
                     addOption(m.options, cs.v);
                   }
                 }},
                {"bind", [&](const YNode* x) {
                   if (!w.needMap(x, "bind")) return;
                   w.fields(x, "bind options of " + ctxv,
                            {{"propagation", [&](const YNode* a) {
                               Str p = w.str(a, "propagation");
                               if (p.set && !isMountFlag(p.v)) {
                                 w.err(a, "invalid bind propagation '" + p.v + "'");
                                 bad = true;
                               } else if (p.set) {
                                 addOption(m.options, p.v);
                               }
                             }},
                             {"create_host_path", [&](const YNode* a) {
                                auto b = w.boolean(a, "create_host_path");
                                if (b.set && !b.v) {
                                  w.err(a, "'bind.create_host_path: false' is not supported: tend's bind mounts create a missing source directory");
                                  bad = true;
                                }
                              }},
                             {"selinux", [&](const YNode* a) {
                                Str p = w.str(a, "selinux");
                                if (p.set && p.v != "z" && p.v != "Z") {
                                  w.err(a, "invalid bind selinux '" + p.v + "' (z or Z)");
                                  bad = true;
                                } else if (p.set) {
                                  addOption(m.options, p.v);
                                }
                              }},
                             {"recursive", [&](const YNode* a) {
                                w.err(a, "'bind.recursive' needs Docker Engine API 1.44; tend speaks 1.41: remove it");
                                bad = true;
                              }}});
                 }},
                {"volume", [&](const YNode* x) {
                   if (!w.needMap(x, "volume")) return;
                   w.fields(x, "volume options of " + ctxv,
                            {{"nocopy", [&](const YNode* a) {
                               if (w.boolean(a, "nocopy").v) addOption(m.options, "nocopy");
                             }},
                             {"subpath", [&](const YNode* a) {
                                w.err(a, "'volume.subpath' needs Docker Engine API 1.45; tend speaks 1.41: remove it");
                                bad = true;
                              }},
                             {"labels", [&](const YNode* a) {
                                w.err(a, "'volume.labels' on a mount is not applied: declare the volume under top-level 'volumes:' with its labels");
                                bad = true;
                              }}});
                 }},
                {"tmpfs", [&](const YNode* x) {
                   if (!w.needMap(x, "tmpfs")) return;
                   w.fields(x, "tmpfs options of " + ctxv,
                            {{"size", [&](const YNode* a) {
                               auto n = w.sizeBytes(a, "size");
                               if (n.set) addOption(m.tmpfsOptions, "size=" + std::to_string(n.v));
                             }},
                             {"mode", [&](const YNode* a) {
                                // YAML reads 1777 as a decimal number; Compose means octal digits.
                                Str md = w.str(a, "mode");
                                std::string d = md.v;
                                if (d.size() > 1 && d[0] == '0' && (d[1] == 'o' || d[1] == 'O')) d = d.substr(2);
                                if (md.set && (d.empty() || d.size() > 4 || d.find_first_not_of("01234567") != std::string::npos)) {
                                  w.err(a, "invalid tmpfs mode '" + md.v + "' (octal, like 1777)");
                                  bad = true;
                                } else if (md.set) {
                                  addOption(m.tmpfsOptions, "mode=" + d);
                                }
                              }}});
                 }}},
               [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
      if (bad) continue;
      if (m.type != "bind" && m.type != "volume" && m.type != "tmpfs") {
        if (m.type == "npipe" || m.type == "cluster" || m.type == "image")
          w.err(it, "volume type '" + m.type + "' in " + ctx + " is not supported (bind, volume or tmpfs)");
        else
          w.err(it, "volume of " + ctx + " needs 'type' bind, volume or tmpfs");
        continue;
      }
      if (m.target.empty()) {
        w.err(it, "volume of " + ctx + " is missing required key 'target'");
        continue;
      }
      if (m.type == "bind" && (!m.source.set || m.source.v.empty())) {
        w.err(it, "bind mount of " + ctx + " is missing required key 'source'");
        continue;
      }
      if (m.type != "tmpfs" && !m.tmpfsOptions.empty()) {
        w.err(it, "'tmpfs' options in " + ctx + " apply to type tmpfs only");
        continue;
      }
    } else {
      w.typeErr(it, "volumes entry", "a string or a mapping");
      continue;
    }
    if (m.target.empty() || m.target[0] != '/') {
      w.err(it, "volume target '" + m.target + "' in " + ctx + " must be an absolute path");
      continue;
    }
    if (m.type == "volume" && m.source.set && !m.source.v.empty() && !validVolumeName(m.source.v)) {
      w.err(it, "invalid volume name '" + m.source.v + "' in " + ctx);
      continue;
    }
    c.volumes.push_back(std::move(m));
  }
}

void readHealthcheck(Walker& w, const YNode* v, const std::string& ctx, ContainerSpec& c) {
  if (!w.needMap(v, "healthcheck")) return;
  Healthcheck h;
  bool disable = false;
  std::string hctx = "healthcheck of " + ctx;
  w.fields(v, hctx,
           {{"test", [&](const YNode* x) {
              h.testLoc = w.loc(x);
              if (x->isScalar()) {
                h.test = {"CMD-SHELL", x->value};
              } else {
                for (auto& s : w.strList(x, "test")) h.test.push_back(s.v);
                if (!h.test.empty() && h.test[0] != "CMD" && h.test[0] != "CMD-SHELL" && h.test[0] != "NONE")
                  w.err(x, "healthcheck test of " + ctx + " must start with CMD, CMD-SHELL or NONE");
              }
            }},
            {"interval", [&](const YNode* x) { h.intervalS = w.durationS(x, "interval").v; }},
            {"timeout", [&](const YNode* x) { h.timeoutS = w.durationS(x, "timeout").v; }},
            {"start_period", [&](const YNode* x) { h.startPeriodS = w.durationS(x, "start_period").v; }},
            {"start_interval", [&](const YNode* x) {
               w.err(x, "healthcheck 'start_interval' needs Docker Engine API 1.44; tend speaks 1.41: remove it");
             }},
            {"retries", [&](const YNode* x) { h.retries = w.integer(x, "retries", 0, 1000).v; }},
            {"disable", [&](const YNode* x) { disable = w.boolean(x, "disable").v; }}});
  if (disable) h.test = {"NONE"};
  c.healthcheck = h;
}

void readServiceNetworks(Walker& w, const YNode* v, ContainerSpec& c) {
  c.networksSet = true;
  if (v->isSeq()) {
    for (const YNode* it : v->items) {
      Str s = w.str(it, "networks entry");
      w.checkName(s, "network");
      if (s.set) c.networks.emplace_back(s, std::vector<std::string>{});
    }
  } else if (v->isMap()) {
    std::vector<std::pair<int64_t, size_t>> prio;  // Compose connects higher priority first
    for (const auto& [k, x] : v->pairs) {
      Str s;
      s.v = k->value;
      s.loc = w.loc(k);
      s.set = true;
      w.checkName(k, "network");
      std::vector<std::string> aliases;
      int64_t priority = 0;
      nlohmann::json ep = nlohmann::json::object();
      if (x->isMap()) {
        std::string nctx = "network '" + k->value + "' of container '" + c.name + "'";
        w.fields(x, nctx,
                 {{"aliases", [&](const YNode* a) { for (auto& s2 : w.strList(a, "aliases")) aliases.push_back(s2.v); }},
                  {"ipv4_address", [&](const YNode* a) {
                     Str ip = w.str(a, "ipv4_address");
                     in_addr a4{};
                     if (ip.set && inet_pton(AF_INET, ip.v.c_str(), &a4) != 1) w.err(a, "invalid ipv4_address '" + ip.v + "' in " + nctx);
                     else if (ip.set) ep["ipv4_address"] = ip.v;
                   }},
                  {"ipv6_address", [&](const YNode* a) {
                     Str ip = w.str(a, "ipv6_address");
                     in6_addr a6{};
                     if (ip.set && inet_pton(AF_INET6, ip.v.c_str(), &a6) != 1) w.err(a, "invalid ipv6_address '" + ip.v + "' in " + nctx);
                     else if (ip.set) ep["ipv6_address"] = ip.v;
                   }},
                  {"link_local_ips", [&](const YNode* a) {
                     nlohmann::json l = nlohmann::json::array();
                     for (auto& s2 : w.strList(a, "link_local_ips")) l.push_back(s2.v);
                     ep["link_local_ips"] = l;
                   }},
                  {"driver_opts", [&](const YNode* a) {
                     if (!w.needMap(a, "driver_opts")) return;
                     nlohmann::json o = nlohmann::json::object();
                     for (const auto& [ok, ov] : a->pairs) o[ok->value] = w.str(ov, ok->value).v;
                     ep["driver_opts"] = o;
                   }},
                  {"priority", [&](const YNode* a) { priority = w.integer(a, "priority").v; }},
                  {"mac_address", [&](const YNode* a) {
                     w.err(a, "per-network 'mac_address' needs Docker Engine API 1.44; tend speaks 1.41: use the service's 'mac_address'");
                   }},
                  {"gw_priority", [&](const YNode* a) {
                     w.err(a, "'gw_priority' needs Docker Engine API 1.48; tend speaks 1.41: remove it");
                   }},
                  {"interface_name", [&](const YNode* a) {
                     w.err(a, "'interface_name' needs Docker Engine API 1.49; tend speaks 1.41: remove it");
                   }}},
                 [&](const YNode* kk, const YNode*) { return kk->value.rfind("x-", 0) == 0; });
      } else if (!x->isNull()) {
        w.typeErr(x, "networks." + k->value, "a mapping");
      }
      if (!ep.empty()) c.networkEndpoint[k->value] = ep;
      prio.emplace_back(priority, c.networks.size());
      c.networks.emplace_back(s, aliases);
    }
    // Highest priority first (the first network is the one the container is created on).
    std::stable_sort(prio.begin(), prio.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<std::pair<Str, std::vector<std::string>>> sorted;
    for (auto& [p, i] : prio) sorted.push_back(c.networks[i]);
    c.networks = std::move(sorted);
  } else {
    w.typeErr(v, "networks", "a list or a mapping");
  }
}

void readDependsOn(Walker& w, const YNode* v, ContainerSpec& c) {
  if (v->isSeq()) {
    for (const YNode* it : v->items) {
      Str s = w.str(it, "depends_on entry");
      if (s.set) c.dependsOn.push_back({s, ""});
    }
  } else if (v->isMap()) {
    for (const auto& [k, x] : v->pairs) {
      DependsOn d;
      d.service.v = k->value;
      d.service.loc = w.loc(k);
      d.service.set = true;
      if (x->isMap()) {
        w.fields(x, "depends_on '" + k->value + "' of container '" + c.name + "'",
                 {{"condition", [&](const YNode* a) {
                    auto s = w.str(a, "condition");
                    if (s.set && s.v != "service_started" && s.v != "service_healthy" &&
                        s.v != "service_completed_successfully")
                      w.err(a, "invalid depends_on condition '" + s.v + "'");
                    d.condition = s.v;
                  }},
                  {"restart", [&](const YNode* a) {
                     if (w.boolean(a, "restart").v)
                       w.err(a, "depends_on 'restart: true' is not supported: tend does not restart a container when its dependency restarts");
                   }},
                  {"required", [&](const YNode* a) { d.required = w.boolean(a, "required").v; }}});
      } else if (!x->isNull()) {
        w.typeErr(x, "depends_on." + k->value, "a mapping");
      }
      c.dependsOn.push_back(d);
    }
  } else {
    w.typeErr(v, "depends_on", "a list or a mapping");
  }
}

std::vector<Str> cmdOf(Walker& w, const YNode* v, const std::string& key) {
  if (v->isScalar()) {
    std::vector<Str> out;
    for (auto& part : shellSplit(v->value)) {
      Str s;
      s.v = part;
      s.loc = w.loc(v);
      s.set = true;
      out.push_back(std::move(s));
    }
    return out;
  }
  return w.strList(v, key);
}

}  // namespace

std::vector<std::string> splitColons(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == '$' && i + 1 < s.size() && s[i + 1] == '{') depth++;
    else if (ch == '}' && depth > 0) depth--;
    if (ch == ':' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::string> shellSplit(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in = false;
  char q = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (q) {
      if (ch == q) q = 0;
      else if (ch == '\\' && q == '"' && i + 1 < s.size()) cur += s[++i];
      else cur += ch;
    } else if (ch == '\'' || ch == '"') {
      q = ch;
      in = true;
    } else if (ch == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      in = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in) out.push_back(cur);
      cur.clear();
      in = false;
    } else {
      cur += ch;
      in = true;
    }
  }
  if (in) out.push_back(cur);
  return out;
}

bool parsePortString(const std::string& in, std::vector<PortSpec>& out) {
  std::string s = in;
  std::string proto = "tcp";
  auto slash = s.rfind('/');
  if (slash != std::string::npos) {
    proto = s.substr(slash + 1);
    s = s.substr(0, slash);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") return false;
  }
  std::string ip;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    ip = s.substr(1, close - 1);
    s = s.substr(close + 2);
    if (!validIp(ip)) return false;
  }
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    auto c = s.find(':', pos);
    parts.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  std::string pub, tgt;
  if (parts.size() == 1) {
    tgt = parts[0];
  } else if (parts.size() == 2) {
    pub = parts[0];
    tgt = parts[1];
  } else if (parts.size() == 3 && ip.empty()) {
    ip = parts[0];
    pub = parts[1];
    tgt = parts[2];
    if (!validIp(ip)) return false;
  } else {
    return false;
  }
  int tlo = 0, thi = 0, plo = 0, phi = 0;
  if (!parsePortNum(tgt, tlo, thi)) return false;
  if (!pub.empty()) {
    if (!parsePortNum(pub, plo, phi)) return false;
    if (phi - plo != thi - tlo) return false;
  }
  for (int i = 0; i <= thi - tlo; ++i) {
    PortSpec p;
    p.hostIp = ip;
    p.target = tlo + i;
    p.published = pub.empty() ? 0 : plo + i;
    p.protocol = proto;
    out.push_back(p);
  }
  return true;
}

namespace {

// A file mode as Compose writes it: an octal number (0440, 0o440, "0440") or its decimal
// value (288). False when it is not one or is above 07777.
bool parseFileMode(const std::string& t, int64_t& out) {
  if (t.empty()) return false;
  std::string digits = t;
  int base = 10;
  if (t.rfind("0o", 0) == 0 || t.rfind("0O", 0) == 0) digits = t.substr(2), base = 8;
  else if (t.size() > 1 && t[0] == '0') digits = t.substr(1), base = 8;
  if (digits.empty()) return false;
  int64_t v = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > (base == 8 ? '7' : '9')) return false;
    v = v * base + (ch - '0');
    if (v > 07777) return false;
  }
  out = v;
  return true;
}

// A service's `secrets:` / `configs:`: names, or {source, target, uid, gid, mode}.
void readFileRefs(Walker& w, const YNode* x, bool secret, const std::string& ctx, std::vector<FileRef>& out) {
  const char* key = secret ? "secrets" : "configs";
  if (x->isNull()) return;
  if (!w.needSeq(x, key)) return;
  for (const YNode* it : x->items) {
    FileRef r;
    r.loc = w.loc(it);
    if (it->isMap()) {
      auto id = [&](Str& dst, const char* k) {
        return Walker::Field{k, [&w, &dst, k](const YNode* y) {
                               dst = w.str(y, k);
                               if (dst.set && (dst.v.empty() || dst.v.find_first_not_of("0123456789") != std::string::npos))
                                 w.err(y, std::string("'") + k + "' must be a numeric id, got '" + printable(dst.v) + "'");
                             }};
      };
      w.fields(it, std::string(key) + " entry of " + ctx,
               {{"source", [&](const YNode* y) { r.source = w.str(y, "source"); }},
                {"target", [&](const YNode* y) { r.target = w.str(y, "target"); }},
                id(r.uid, "uid"),
                id(r.gid, "gid"),
                {"mode", [&](const YNode* y) {
                   if (!y->isScalar() || !parseFileMode(y->value, r.mode))
                     w.err(y, "'mode' must be a file mode such as 0440 (octal), got '" +
                                  printable(y->isScalar() ? y->value : std::string("a collection")) + "'");
                 }}},
               [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
      if (!r.source.set) w.err(it, std::string(key) + " entry of " + ctx + " is missing required key 'source'");
    } else {
      r.source = w.str(it, key);
    }
    if (r.source.set && r.source.v.empty()) w.err(it, std::string(key) + " entry of " + ctx + " has an empty source");
    if (r.target.set) {
      const std::string& t = r.target.v;
      if (t.empty() || t.find('\0') != std::string::npos || t.find(':') != std::string::npos ||
          t == "/" || t.back() == '/')
        w.err(it, "invalid target '" + printable(t) + "' in " + ctx + " " + key + ": a file path in the container");
      for (size_t p = 0; p <= t.size();) {
        size_t q = t.find('/', p);
        if (q == std::string::npos) q = t.size();
        if (t.compare(p, q - p, "..") == 0) {
          w.err(it, "invalid target '" + printable(t) + "' in " + ctx + " " + key + ": no '..'");
          break;
        }
        p = q + 1;
      }
    }
    out.push_back(std::move(r));
  }
}

}  // namespace

void readFileObjects(Walker& w, const YNode* v, bool secret, const std::string& baseDir, const std::string& specRoot,
                     const ComposeVars* vars, const std::string& dotenv, std::vector<FileObject>& out) {
  if (v->isNull()) return;
  const std::string what = secret ? "secret" : "config";
  w.entries(v, secret ? "secrets" : "configs", [&](const YNode* k, const YNode* x) {
    FileObject fo;
    fo.key = k->value;
    fo.loc = w.loc(k);
    fo.secret = secret;
    fo.dotenv = dotenv;
    w.checkName(k, what);
    std::string ctx = what + " '" + fo.key + "'";
    if (!x->isMap()) {
      w.typeErr(x, fo.key, "a mapping");
      return;
    }
    int sources = 0;
    auto swarm = [&](const char* key) {
      return Walker::Field{key, [&w, &ctx, key](const YNode* y) {
                             w.err(y, std::string("'") + key + "' of " + ctx +
                                          " applies to Docker Swarm objects; tend delivers the file itself (use 'file' or 'environment')");
                           }};
    };
    w.fields(x, ctx,
             {{"file", [&](const YNode* a) {
                Str f = w.str(a, "file");
                if (!f.set) return;
                ++sources;
                SpecFile sf = confinePath(specRoot, baseDir, f.v);
                std::error_code ec;
                if (!sf.error.empty()) w.err(a, ctx + ": file '" + printable(f.v) + "' " + sf.error);
                else if (sf.missing || !std::filesystem::exists(sf.path, ec))
                  w.err(a, ctx + ": file '" + printable(f.v) + "' does not exist");
                else if (!std::filesystem::is_regular_file(sf.path, ec))
                  w.err(a, ctx + ": file '" + printable(f.v) + "' is not a regular file");
                else if (std::filesystem::file_size(sf.path, ec) > (4u << 20))
                  w.err(a, ctx + ": file '" + printable(f.v) + "' is larger than 4 MiB");
                fo.file = sf.path;
              }},
              {"environment", [&](const YNode* a) {
                fo.environment = w.str(a, "environment");
                if (!fo.environment.set) return;
                ++sources;
                const std::string& n = fo.environment.v;
                if (n.empty() || n.find_first_of(" =\t\n$") != std::string::npos)
                  w.err(a, ctx + ": invalid environment variable name '" + printable(n) + "'");
                else if (vars && !vars->get(n))
                  w.warn(a, ctx + ": environment variable '" + n +
                                "' is not set here; tendd reads it (or the project's .env) when it creates the container");
              }},
              {"content", [&](const YNode* a) {
                if (secret) {
                  w.err(a, "'content' is for configs; " + ctx + " comes from 'file' or 'environment'");
                  return;
                }
                fo.content = w.str(a, "content");
                if (fo.content.set) ++sources;
              }},
              {"external", [&](const YNode* a) {
                if (a->isScalar() && (a->value == "false" || a->value == "False" || a->value == "no")) return;
                w.err(a, "external " + what + "s live in a Docker Swarm, which tend does not use: give " + ctx +
                             (secret ? " a 'file' or 'environment'" : " a 'file', 'environment' or 'content'"));
                ++sources;
              }},
              swarm("name"),
              swarm("labels"),
              swarm("driver"),
              swarm("driver_opts"),
              swarm("template_driver")},
             [&](const YNode* kk, const YNode*) { return kk->value.rfind("x-", 0) == 0; });
    if (sources == 0)
      w.err(k, ctx + " needs a source: 'file' or 'environment'" + std::string(secret ? "" : " or 'content'"));
    else if (sources > 1)
      w.err(k, ctx + " has more than one source: give one of 'file', 'environment'" + std::string(secret ? "" : ", 'content'"));
    out.push_back(std::move(fo));
  });
}

namespace {

// Compose keys the Docker Engine has no place for (or not in API 1.41), with the reason shown
// when a service uses one. Everything else of the Compose schema is applied.
const std::map<std::string, std::string>& refusedServiceKeys() {
  static const std::map<std::string, std::string> m = {
      {"annotations", "needs Docker Engine API 1.43; tend speaks 1.41"},
      {"attach", "is a 'docker compose up' log option; tend does not attach to container output"},
      {"cpu_count", "applies to Windows containers only"},
      {"cpu_percent", "applies to Windows containers only"},
      {"credential_spec", "applies to Windows containers only"},
      {"develop", "is 'docker compose watch' (a development loop), not applied by tend"},
      {"models", "needs Docker Model Runner, not supported by tend"},
      {"provider", "delegates to a Compose provider plugin, not supported by tend"},
      {"post_start", "lifecycle hooks are not supported by tend"},
      {"pre_start", "lifecycle hooks are not supported by tend"},
      {"pre_stop", "lifecycle hooks are not supported by tend"},
      {"pull_refresh_after", "is not supported by tend (use pull_policy: always or missing)"},
      {"use_api_socket", "is not supported by tend (it copies the Docker CLI's credentials into the container)"},
      {"platform", "is not supported by tend: pin an image built for the host's platform"},
  };
  return m;
}

enum class EType { Str, Int, Bool, StrList, StrMap, Size, Micros };
struct EngineKey {
  const char* key;
  bool hostConfig;  // HostConfig (else Config)
  const char* api;
  EType type;
  int64_t min, max;
};
// Compose keys that map one to one onto an Engine API field.
const std::vector<EngineKey>& engineKeys() {
  static const std::vector<EngineKey> v = {
      {"cgroup_parent", true, "CgroupParent", EType::Str, 0, 0},
      {"cpu_period", true, "CpuPeriod", EType::Micros, 0, INT64_MAX},
      {"cpu_quota", true, "CpuQuota", EType::Micros, -1, INT64_MAX},
      {"cpu_rt_period", true, "CpuRealtimePeriod", EType::Micros, 0, INT64_MAX},
      {"cpu_rt_runtime", true, "CpuRealtimeRuntime", EType::Micros, 0, INT64_MAX},
      {"cpu_shares", true, "CpuShares", EType::Int, 0, INT64_MAX},
      {"cpuset", true, "CpusetCpus", EType::Str, 0, 0},
      {"device_cgroup_rules", true, "DeviceCgroupRules", EType::StrList, 0, 0},
      {"dns_opt", true, "DnsOptions", EType::StrList, 0, 0},
      {"dns_search", true, "DnsSearch", EType::StrList, 0, 0},
      {"domainname", false, "Domainname", EType::Str, 0, 0},
      {"external_links", true, "Links", EType::StrList, 0, 0},
      {"mac_address", false, "MacAddress", EType::Str, 0, 0},
      {"mem_swappiness", true, "MemorySwappiness", EType::Int, 0, 100},
      {"memswap_limit", true, "MemorySwap", EType::Size, 0, 0},
      {"oom_kill_disable", true, "OomKillDisable", EType::Bool, 0, 0},
      {"oom_score_adj", true, "OomScoreAdj", EType::Int, -1000, 1000},
      {"pids_limit", true, "PidsLimit", EType::Int, -1, INT64_MAX},
      {"runtime", true, "Runtime", EType::Str, 0, 0},
      {"storage_opt", true, "StorageOpt", EType::StrMap, 0, 0},
      {"userns_mode", true, "UsernsMode", EType::Str, 0, 0},
      {"uts", true, "UTSMode", EType::Str, 0, 0},
  };
  return v;
}

nlohmann::json& engineSection(ContainerSpec& c, bool hostConfig) {
  if (!c.engine.is_object()) c.engine = nlohmann::json::object();
  return c.engine[hostConfig ? "host_config" : "config"];
}

// The value of one engineKeys() entry; false after reporting a located error.
bool engineValue(Walker& w, const YNode* x, const EngineKey& e, nlohmann::json& out) {
  switch (e.type) {
    case EType::Str: {
      Str s = w.str(x, e.key);
      if (!s.set) return false;
      out = s.v;
      return true;
    }
    case EType::Int: {
      auto n = w.integer(x, e.key, e.min, e.max);
      if (!n.set) return false;
      out = n.v;
      return true;
    }
    case EType::Bool: {
      auto b = w.boolean(x, e.key);
      if (!b.set) return false;
      out = b.v;
      return true;
    }
    case EType::StrList: {
      nlohmann::json a = nlohmann::json::array();
      for (auto& s : w.strOrList(x, e.key)) a.push_back(s.v);
      out = a;
      return true;
    }
    case EType::StrMap: {
      if (!w.needMap(x, e.key)) return false;
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [k, y] : x->pairs) o[k->value] = w.str(y, std::string(e.key) + "." + k->value).v;
      out = o;
      return true;
    }
    case EType::Size: {
      if (x->isScalar() && x->value == "-1") {  // memswap_limit: -1 = unlimited swap
        out = -1;
        return true;
      }
      auto n = w.sizeBytes(x, e.key);
      if (!n.set) return false;
      out = n.v;
      return true;
    }
    case EType::Micros: {  // an integer (microseconds) or a duration
      int64_t n = 0, ms = 0;
      if (x->isScalar() && parseInt(x->value, n) && n >= e.min) {
        out = n;
        return true;
      }
      if (x->isScalar() && parseDuration(x->value, ms)) {
        out = ms * 1000;
        return true;
      }
      w.err(x, "invalid value for '" + std::string(e.key) + "' (microseconds or a duration like 100ms)");
      return false;
    }
  }
  return false;
}

void readUlimits(Walker& w, const YNode* x, ContainerSpec& c) {
  if (!w.needMap(x, "ulimits")) return;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [k, v] : x->pairs) {
    int64_t soft = 0, hard = 0;
    if (v->isMap()) {
      bool hs = false, hh = false;
      w.fields(v, "ulimit '" + k->value + "'",
               {{"soft", [&](const YNode* a) { auto n = w.integer(a, "soft", -1); soft = n.v; hs = n.set; }},
                {"hard", [&](const YNode* a) { auto n = w.integer(a, "hard", -1); hard = n.v; hh = n.set; }}});
      if (!hs || !hh) {
        w.err(v, "ulimit '" + k->value + "' needs both 'soft' and 'hard'");
        continue;
      }
    } else {
      auto n = w.integer(v, "ulimits." + k->value, -1);
      if (!n.set) continue;
      soft = hard = n.v;
    }
    arr.push_back({{"Name", k->value}, {"Soft", soft}, {"Hard", hard}});
  }
  engineSection(c, true)["Ulimits"] = arr;
}

void readBlkio(Walker& w, const YNode* x, ContainerSpec& c) {
  if (!w.needMap(x, "blkio_config")) return;
  nlohmann::json& h = engineSection(c, true);
  auto devList = [&](const YNode* a, const char* key, const char* api, bool size, bool weight) {
    if (!w.needSeq(a, key)) return;
    nlohmann::json arr = nlohmann::json::array();
    for (const YNode* it : a->items) {
      if (!w.needMap(it, std::string(key) + " entry")) continue;
      Str path;
      int64_t val = 0;
      bool have = false;
      w.fields(it, std::string(key) + " entry",
               {{"path", [&](const YNode* b) { path = w.str(b, "path"); }},
                {weight ? "weight" : "rate", [&](const YNode* b) {
                   auto n = weight ? w.integer(b, "weight", 10, 1000) : size ? w.sizeBytes(b, "rate") : w.integer(b, "rate", 0);
                   val = n.v;
                   have = n.set;
                 }}});
      if (!path.set || !have) {
        w.err(it, std::string(key) + " entry needs 'path' and '" + (weight ? "weight" : "rate") + "'");
        continue;
      }
      arr.push_back({{"Path", path.v}, {weight ? "Weight" : "Rate", val}});
    }
    h[api] = arr;
  };
  w.fields(x, "blkio_config",
           {{"weight", [&](const YNode* a) { auto n = w.integer(a, "weight", 10, 1000); if (n.set) h["BlkioWeight"] = n.v; }},
            {"weight_device", [&](const YNode* a) { devList(a, "weight_device", "BlkioWeightDevice", false, true); }},
            {"device_read_bps", [&](const YNode* a) { devList(a, "device_read_bps", "BlkioDeviceReadBps", true, false); }},
            {"device_write_bps", [&](const YNode* a) { devList(a, "device_write_bps", "BlkioDeviceWriteBps", true, false); }},
            {"device_read_iops", [&](const YNode* a) { devList(a, "device_read_iops", "BlkioDeviceReadIOps", false, false); }},
            {"device_write_iops", [&](const YNode* a) { devList(a, "device_write_iops", "BlkioDeviceWriteIOps", false, false); }}});
}

// `gpus:` and deploy.resources.reservations.devices: Engine DeviceRequests.
nlohmann::json deviceRequest(Walker& w, const YNode* it, const std::string& ctx, bool gpus) {
  nlohmann::json r = {{"Driver", ""}, {"Count", 0}, {"DeviceIDs", nlohmann::json::array()},
                      {"Capabilities", nlohmann::json::array()}, {"Options", nlohmann::json::object()}};
  nlohmann::json caps = nlohmann::json::array();
  bool haveCount = false, haveIds = false;
  w.fields(it, ctx,
           {{"driver", [&](const YNode* a) { r["Driver"] = w.str(a, "driver").v; }},
            {"count", [&](const YNode* a) {
               haveCount = true;
               if (a->isScalar() && a->value == "all") r["Count"] = -1;
               else r["Count"] = w.integer(a, "count", 0).v;
             }},
            {"device_ids", [&](const YNode* a) {
               haveIds = true;
               for (auto& s : w.strList(a, "device_ids")) r["DeviceIDs"].push_back(s.v);
             }},
            {"capabilities", [&](const YNode* a) { for (auto& s : w.strList(a, "capabilities")) caps.push_back(s.v); }},
            {"options", [&](const YNode* a) {
               if (!w.needMap(a, "options")) return;
               for (const auto& [k, v] : a->pairs) r["Options"][k->value] = w.str(v, k->value).v;
             }}});
  if (gpus) caps.push_back("gpu");
  if (caps.empty()) w.err(it, ctx + " needs 'capabilities'");
  if (haveCount && haveIds) w.err(it, ctx + " sets both 'count' and 'device_ids'");
  if (!haveCount && !haveIds) r["Count"] = -1;  // Compose: all devices
  std::sort(caps.begin(), caps.end());
  caps.erase(std::unique(caps.begin(), caps.end()), caps.end());
  r["Capabilities"] = nlohmann::json::array({caps});
  return r;
}

void addDeviceRequest(ContainerSpec& c, nlohmann::json r) {
  auto& h = engineSection(c, true);
  if (!h.contains("DeviceRequests")) h["DeviceRequests"] = nlohmann::json::array();
  h["DeviceRequests"].push_back(std::move(r));
}

void readGpus(Walker& w, const YNode* x, ContainerSpec& c) {
  if (x->isScalar() && x->value == "all") {
    addDeviceRequest(c, {{"Driver", ""}, {"Count", -1}, {"DeviceIDs", nlohmann::json::array()},
                         {"Capabilities", nlohmann::json::array({nlohmann::json::array({"gpu"})})},
                         {"Options", nlohmann::json::object()}});
    return;
  }
  if (!w.needSeq(x, "gpus")) return;
  for (const YNode* it : x->items)
    if (w.needMap(it, "gpus entry")) addDeviceRequest(c, deviceRequest(w, it, "gpus entry", true));
}

void readDeploy(Walker& w, const YNode* x, const std::string& ctx, ContainerSpec& c) {
  if (!w.needMap(x, "deploy")) return;
  auto swarm = [&](const char* key) {
    return Walker::Field{key, [&w, key](const YNode* a) {
                           w.err(a, std::string("'deploy.") + key + "' applies to Docker Swarm services only; tend runs plain containers: remove it");
                         }};
  };
  std::string dctx = "deploy of " + ctx;
  w.fields(
      x, dctx,
      {{"mode", [&](const YNode* a) {
          Str m = w.str(a, "mode");
          if (m.set && m.v != "replicated" && m.v != "replicated-job")
            w.err(a, "deploy mode '" + m.v + "' is not supported: tend runs one container per service");
        }},
       {"replicas", [&](const YNode* a) {
          auto n = w.integer(a, "replicas", 0);
          if (n.set && n.v != 1) w.err(a, "'deploy.replicas: " + std::to_string(n.v) + "' is not supported: tend runs one container per service");
        }},
       {"resources", [&](const YNode* a) {
          if (!w.needMap(a, "resources")) return;
          w.fields(a, "deploy.resources of " + ctx,
                   {{"limits", [&](const YNode* l) {
                      if (!w.needMap(l, "limits")) return;
                      w.fields(l, "deploy.resources.limits of " + ctx,
                               {{"cpus", [&](const YNode* y) {
                                  double v = 0;
                                  try {
                                    size_t used = 0;
                                    if (y->isScalar()) v = std::stod(y->value, &used);
                                    if (!y->isScalar() || used != y->value.size() || v <= 0) throw std::invalid_argument("cpus");
                                  } catch (const std::exception&) {
                                    w.typeErr(y, "cpus", "a positive number");
                                    return;
                                  }
                                  if (c.cpus > 0 && c.cpus != v) w.err(y, "'deploy.resources.limits.cpus' and 'cpus' differ in " + ctx);
                                  c.cpus = v;
                                }},
                                {"memory", [&](const YNode* y) {
                                   auto n = w.sizeBytes(y, "memory");
                                   if (c.memLimit > 0 && n.set && c.memLimit != n.v)
                                     w.err(y, "'deploy.resources.limits.memory' and 'mem_limit' differ in " + ctx);
                                   if (n.set) c.memLimit = n.v;
                                 }},
                                {"pids", [&](const YNode* y) {
                                   auto n = w.integer(y, "pids", -1);
                                   if (n.set) engineSection(c, true)["PidsLimit"] = n.v;
                                 }}});
                    }},
                    {"reservations", [&](const YNode* r) {
                       if (!w.needMap(r, "reservations")) return;
                       w.fields(r, "deploy.resources.reservations of " + ctx,
                                {{"memory", [&](const YNode* y) {
                                   auto n = w.sizeBytes(y, "memory");
                                   if (n.set) c.memReservation = n.v;
                                 }},
                                 {"cpus", [&](const YNode* y) {
                                    w.err(y, "'deploy.resources.reservations.cpus' applies to Docker Swarm scheduling only; the Engine has no CPU reservation: use 'cpu_shares' or limits.cpus");
                                  }},
                                 {"devices", [&](const YNode* y) {
                                    if (!w.needSeq(y, "devices")) return;
                                    for (const YNode* it : y->items)
                                      if (w.needMap(it, "devices entry"))
                                        addDeviceRequest(c, deviceRequest(w, it, "reservations.devices entry", false));
                                  }},
                                 {"generic_resources", [&](const YNode* y) {
                                    w.err(y, "'generic_resources' applies to Docker Swarm services only: remove it");
                                  }}});
                     }}});
        }},
       {"restart_policy", [&](const YNode* a) {
          if (!w.needMap(a, "restart_policy")) return;
          std::string cond = "any";
          int64_t attempts = 0;
          w.fields(a, "deploy.restart_policy of " + ctx,
                   {{"condition", [&](const YNode* y) {
                      Str cs = w.str(y, "condition");
                      if (cs.set && cs.v != "none" && cs.v != "on-failure" && cs.v != "any")
                        w.err(y, "invalid restart_policy condition '" + cs.v + "' (none, on-failure, any)");
                      if (cs.set) cond = cs.v;
                    }},
                    {"max_attempts", [&](const YNode* y) { attempts = w.integer(y, "max_attempts", 0).v; }},
                    {"delay", [&](const YNode* y) { w.err(y, "'deploy.restart_policy.delay' is applied by Docker Swarm only: remove it"); }},
                    {"window", [&](const YNode* y) { w.err(y, "'deploy.restart_policy.window' is applied by Docker Swarm only: remove it"); }}});
          if (c.restart.set) {
            w.err(a, ctx + " sets both 'restart' and 'deploy.restart_policy'");
            return;
          }
          c.restart.set = true;
          c.restart.loc = w.loc(a);
          c.restart.v = cond == "none" ? "no" : cond == "any" ? "always" : attempts > 0 ? "on-failure:" + std::to_string(attempts) : "on-failure";
        }},
       swarm("labels"), swarm("placement"), swarm("update_config"), swarm("rollback_config"), swarm("endpoint_mode")},
      [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
}

void readDevices(Walker& w, const YNode* x, ContainerSpec& c) {
  if (!w.needSeq(x, "devices")) return;
  for (const YNode* it : x->items) {
    if (it->isScalar()) {
      c.devices.push_back(w.str(it, "devices entry"));
      continue;
    }
    if (!w.needMap(it, "devices entry")) continue;
    Str src, dst, perms;
    w.fields(it, "devices entry",
             {{"source", [&](const YNode* a) { src = w.str(a, "source"); }},
              {"target", [&](const YNode* a) { dst = w.str(a, "target"); }},
              {"permissions", [&](const YNode* a) {
                 perms = w.str(a, "permissions");
                 if (perms.set && (perms.v.empty() || perms.v.find_first_not_of("rwm") != std::string::npos))
                   w.err(a, "invalid device permissions '" + perms.v + "' (r, w, m)");
               }}});
    if (!src.set) {
      w.err(it, "devices entry is missing required key 'source'");
      continue;
    }
    Str d = src;
    d.loc = w.loc(it);
    d.v = src.v + ":" + (dst.set ? dst.v : src.v) + (perms.set ? ":" + perms.v : "");
    c.devices.push_back(d);
  }
}

void readLabelFile(Walker& w, const YNode* x, const std::string& baseDir, const std::string& specRoot, ContainerSpec& c) {
  for (auto& f : w.strOrList(x, "label_file")) {
    std::string text, why;
    bool missing = false;
    if (!readComposeText(specRoot, baseDir, f.v, text, why, missing)) {
      w.diags().push_back({Severity::Error, f.loc, "label_file '" + f.v + "'" + (missing ? " " + why : ": " + why)});
      continue;
    }
    std::vector<std::pair<std::string, std::string>> kv;
    std::string err;
    if (!parseDotenv(text, nullptr, kv, err)) {
      w.diags().push_back({Severity::Error, f.loc, "label_file '" + f.v + "': " + err});
      continue;
    }
    for (auto& [k, v] : kv) {
      Str s;
      s.v = escapeDollars(v);
      s.loc = f.loc;
      s.set = true;
      c.labels.emplace_back(k, s);
    }
  }
}

void readBuild(Walker& w, const YNode* x, const std::string& baseDir, const std::string& specRoot,
               const std::string& ctx, ContainerSpec& c) {
  BuildSpec& b = c.build;
  b.loc = w.loc(x);
  Str context;
  auto refuse = [&w](const char* key, const char* why) {
    return Walker::Field{key, [&w, key, why](const YNode* a) {
                           w.err(a, std::string("'build.") + key + "' " + why);
                         }};
  };
  if (x->isScalar()) {
    context = w.str(x, "build");
  } else if (w.needMap(x, "build")) {
    std::string bctx = "build of " + ctx;
    w.fields(
        x, bctx,
        {{"context", [&](const YNode* a) { context = w.str(a, "context"); }},
         {"dockerfile", [&](const YNode* a) { b.dockerfile = w.str(a, "dockerfile").v; }},
         {"dockerfile_inline", [&](const YNode* a) { b.dockerfileInline = w.str(a, "dockerfile_inline").v; }},
         {"target", [&](const YNode* a) { b.target = w.str(a, "target").v; }},
         {"network", [&](const YNode* a) { b.network = w.str(a, "network").v; }},
         {"args", [&](const YNode* a) {
            std::vector<std::pair<std::string, Str>> kv;
            readKv(w, a, "args", bctx, kv);
            for (auto& [k, v] : kv) b.args[k] = v.v;
          }},
         {"labels", [&](const YNode* a) {
            std::vector<std::pair<std::string, Str>> kv;
            readKv(w, a, "labels", bctx, kv);
            for (auto& [k, v] : kv) b.labels[k] = v.v;
          }},
         {"tags", [&](const YNode* a) { for (auto& t : w.strList(a, "tags")) b.tags.push_back(t.v); }},
         {"cache_from", [&](const YNode* a) { for (auto& t : w.strList(a, "cache_from")) b.cacheFrom.push_back(t.v); }},
         {"extra_hosts", [&](const YNode* a) {
            std::vector<std::pair<std::string, Str>> kv;
            if (a->isMap()) {
              readKv(w, a, "extra_hosts", bctx, kv);
              for (auto& [k, v] : kv) b.extraHosts.push_back(k + ":" + v.v);
            } else {
              for (auto& t : w.strList(a, "extra_hosts")) b.extraHosts.push_back(t.v);
            }
          }},
         {"no_cache", [&](const YNode* a) { b.noCache = w.boolean(a, "no_cache").v; }},
         {"pull", [&](const YNode* a) { b.pull = w.boolean(a, "pull").v; }},
         {"shm_size", [&](const YNode* a) { b.shmSize = w.sizeBytes(a, "shm_size").v; }},
         refuse("cache_to", "needs BuildKit; tend builds through the Engine API's /build: remove it"),
         refuse("secrets", "needs BuildKit; tend builds through the Engine API's /build: remove it"),
         refuse("ssh", "needs BuildKit; tend builds through the Engine API's /build: remove it"),
         refuse("platforms", "needs BuildKit (multi-platform); tend builds for the host's platform: remove it"),
         refuse("additional_contexts", "needs BuildKit; tend builds through the Engine API's /build: remove it"),
         refuse("entitlements", "needs BuildKit: remove it"),
         refuse("privileged", "needs BuildKit: remove it"),
         refuse("ulimits", "is not supported by tend's builds: remove it"),
         refuse("isolation", "applies to Windows builds only: remove it"),
         refuse("provenance", "needs BuildKit: remove it"),
         refuse("sbom", "needs BuildKit: remove it")},
        [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
  }
  std::string rel = context.set ? context.v : ".";
  if (rel.find("://") != std::string::npos || rel.rfind("git@", 0) == 0) {
    w.err(x, "remote build context '" + rel + "' is not supported: put the context in the spec directory");
    return;
  }
  SpecFile f = confinePath(specRoot, baseDir, rel);
  if (!f.error.empty()) {
    w.err(x, "build context '" + rel + "': " + f.error);
    return;
  }
  struct stat st {};
  if (f.missing || ::stat(f.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    w.err(x, "build context '" + rel + "' is not a directory in the spec");
    return;
  }
  b.context = f.path;
  if (b.dockerfile.empty() && b.dockerfileInline.empty()) b.dockerfile = "Dockerfile";
  if (!b.dockerfile.empty() && !b.dockerfileInline.empty()) {
    w.err(x, "build of " + ctx + " sets both 'dockerfile' and 'dockerfile_inline'");
    return;
  }
  std::vector<ContextFile> files;
  std::string err;
  if (!listContext(b.context, b.dockerfile, files, err)) {
    w.err(x, "build context '" + rel + "': " + err);
    return;
  }
  if (!b.dockerfile.empty() &&
      std::none_of(files.begin(), files.end(), [&](const ContextFile& cf) { return cf.rel == b.dockerfile; })) {
    w.err(x, "build of " + ctx + ": no '" + b.dockerfile + "' in the context '" + rel + "'");
    return;
  }
  nlohmann::json opts = {{"dockerfile", b.dockerfile}, {"inline", b.dockerfileInline}, {"target", b.target},
                         {"args", b.args}, {"labels", b.labels}, {"network", b.network}, {"shm", b.shmSize},
                         {"hosts", b.extraHosts}};
  if (!hashContext(files, opts.dump(), b.contextHash, err)) {
    w.err(x, "build context '" + rel + "': " + err);
    return;
  }
  b.set = true;
}

}  // namespace

void readContainer(Walker& w, const YNode* key, const YNode* v, const std::string& baseDir,
                   const std::string& specRoot, ContainerSpec& c, const ComposeVars* vars) {
  c.name = key->value;
  c.loc = w.loc(key);
  c.baseDir = baseDir;
  struct ExtGuard {
    Walker& w;
    bool was;
    ~ExtGuard() { w.composeExtensions(was); }
  } extGuard{w, w.composeExtensions(true)};
  w.checkName(key, "container");
  std::string ctx = "container '" + c.name + "'";
  if (!w.needMap(v, c.name)) return;
  auto strf = [&](Str& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.str(x, k); }}; };
  auto listf = [&](std::vector<Str>& dst, const char* k) {
    return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.strOrList(x, k); }};
  };
  auto boolf = [&](bool& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.boolean(x, k).v; }}; };
  auto sizef = [&](int64_t& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.sizeBytes(x, k).v; }}; };
  bool hasBuild = false;
  // Fields are read in file order, but `restart` and deploy.restart_policy must see each
  // other: deploy is read after the rest.
  const YNode* deploy = nullptr;
  w.fields(
      v, ctx,
      {strf(c.image, "image"),
       strf(c.containerName, "container_name"),
       {"command", [&](const YNode* x) { c.command = cmdOf(w, x, "command"); }},
       {"entrypoint", [&](const YNode* x) { c.entrypoint = cmdOf(w, x, "entrypoint"); }},
       {"environment", [&](const YNode* x) { readKv(w, x, "environment", ctx, c.environment); }},
       {"env_file", [&](const YNode* x) { readEnvFiles(w, x, baseDir, specRoot, vars, c); }},
       {"label_file", [&](const YNode* x) { readLabelFile(w, x, baseDir, specRoot, c); }},
       {"ports", [&](const YNode* x) { readPorts(w, x, ctx, c); }},
       {"volumes", [&](const YNode* x) { readVolumes(w, x, ctx, c); }},
       {"secrets", [&](const YNode* x) { readFileRefs(w, x, true, ctx, c.secrets); }},
       {"configs", [&](const YNode* x) { readFileRefs(w, x, false, ctx, c.configs); }},
       {"networks", [&](const YNode* x) { readServiceNetworks(w, x, c); }},
       {"restart", [&](const YNode* x) {
          c.restart = w.str(x, "restart");
          const std::string& r = c.restart.v;
          if (c.restart.set && r != "no" && r != "always" && r != "unless-stopped" && r != "on-failure" &&
              r.rfind("on-failure:", 0) != 0)
            w.err(x, "invalid restart policy '" + r + "' in " + ctx + " (no, always, on-failure, unless-stopped)");
        }},
       {"labels", [&](const YNode* x) { readKv(w, x, "labels", ctx, c.labels); }},
       strf(c.user, "user"),
       strf(c.workingDir, "working_dir"),
       strf(c.hostname, "hostname"),
       strf(c.networkMode, "network_mode"),
       {"pull_policy", [&](const YNode* x) {
          c.pullPolicy = w.str(x, "pull_policy");
          const std::string& p = c.pullPolicy.v;
          if (c.pullPolicy.set && p != "missing" && p != "always" && p != "never" && p != "if_not_present")
            w.err(x, "invalid pull_policy '" + p + "' in " + ctx + " (missing, always, never)");
        }},
       strf(c.stopSignal, "stop_signal"),
       {"healthcheck", [&](const YNode* x) { readHealthcheck(w, x, ctx, c); }},
       listf(c.capAdd, "cap_add"),
       listf(c.capDrop, "cap_drop"),
       {"devices", [&](const YNode* x) { readDevices(w, x, c); }},
       {"extra_hosts", [&](const YNode* x) {
          if (x->isMap()) {
            for (const auto& [k, h] : x->pairs) {
              if (h->isSeq()) {
                for (auto& s : w.strList(h, "extra_hosts." + k->value)) {
                  s.v = k->value + ":" + s.v;
                  c.extraHosts.push_back(s);
                }
                continue;
              }
              Str s = w.str(h, "extra_hosts." + k->value);
              s.v = k->value + ":" + s.v;
              c.extraHosts.push_back(s);
            }
          } else {
            for (auto& s : w.strList(x, "extra_hosts")) {
              auto eq = s.v.find('=');
              if (eq != std::string::npos) s.v[eq] = ':';
              c.extraHosts.push_back(s);
            }
          }
        }},
       listf(c.securityOpt, "security_opt"),
       listf(c.tmpfs, "tmpfs"),
       listf(c.dns, "dns"),
       listf(c.groupAdd, "group_add"),
       listf(c.expose, "expose"),
       {"logging", [&](const YNode* x) {
          if (!w.needMap(x, "logging")) return;
          nlohmann::json l = {{"driver", "json-file"}, {"options", nlohmann::json::object()}};
          w.fields(x, "logging of " + ctx,
                   {{"driver", [&](const YNode* a) { l["driver"] = w.str(a, "driver").v; }},
                    {"options", [&](const YNode* a) {
                       if (a->isNull()) return;
                       if (!w.needMap(a, "options")) return;
                       for (const auto& [k, o] : a->pairs) l["options"][k->value] = w.str(o, k->value).v;
                     }}});
          c.logging = l;
        }},
       {"depends_on", [&](const YNode* x) { readDependsOn(w, x, c); }},
       {"sysctls", [&](const YNode* x) {
          std::vector<std::pair<std::string, Str>> kv;
          readKv(w, x, "sysctls", ctx, kv);
          for (auto& [k, s] : kv) c.sysctls[k] = s.v;
        }},
       {"privileged", [&](const YNode* x) {
          auto b = w.boolean(x, "privileged");
          c.privileged = b.v;
          c.privilegedLoc = b.loc;
        }},
       boolf(c.tty, "tty"),
       boolf(c.stdinOpen, "stdin_open"),
       boolf(c.init, "init"),
       boolf(c.readOnly, "read_only"),
       sizef(c.shmSize, "shm_size"),
       sizef(c.memLimit, "mem_limit"),
       sizef(c.memReservation, "mem_reservation"),
       {"cpus", [&](const YNode* x) {
          try {
            size_t used = 0;
            c.cpus = x->isScalar() ? std::stod(x->value, &used) : -1;
            if (!x->isScalar() || used != x->value.size() || c.cpus <= 0) throw std::invalid_argument("cpus");
          } catch (const std::exception&) {
            w.typeErr(x, "cpus", "a positive number");
          }
        }},
       {"stop_grace_period", [&](const YNode* x) { c.stopGracePeriodS = w.durationS(x, "stop_grace_period").v; }},
       {"ulimits", [&](const YNode* x) { readUlimits(w, x, c); }},
       {"blkio_config", [&](const YNode* x) { readBlkio(w, x, c); }},
       {"gpus", [&](const YNode* x) { readGpus(w, x, c); }},
       {"deploy", [&](const YNode* x) { deploy = x; }},
       strf(c.ipc, "ipc"),
       strf(c.pid, "pid"),
       {"cgroup", [&](const YNode* x) {
          Str m = w.str(x, "cgroup");
          if (m.set && m.v != "host" && m.v != "private") w.err(x, "invalid cgroup '" + m.v + "' (host or private)");
          else if (m.set) engineSection(c, true)["CgroupnsMode"] = m.v;
        }},
       listf(c.volumesFrom, "volumes_from"),
       listf(c.links, "links"),
       listf(c.profiles, "profiles"),
       {"scale", [&](const YNode* x) {
          auto n = w.integer(x, "scale", 0);
          if (n.set && n.v != 1) w.err(x, "'scale: " + std::to_string(n.v) + "' is not supported: tend runs one container per service");
        }},
       {"isolation", [&](const YNode* x) {
          Str m = w.str(x, "isolation");
          if (m.set && m.v != "default") w.err(x, "isolation '" + m.v + "' applies to Windows containers only (Linux: default)");
        }},
       {"extends", [&](const YNode* x) {
          w.err(x, "'extends' in " + ctx + " is only resolved in Compose files (compose:), not in inline containers");
        }},
       {"build", [&](const YNode* x) {
          hasBuild = true;
          readBuild(w, x, baseDir, specRoot, ctx, c);
        }}},
      [&](const YNode* k, const YNode* x) {
        const std::string& name = k->value;
        if (name.rfind("x-", 0) == 0) return true;
        for (const auto& e : engineKeys()) {
          if (name != e.key) continue;
          nlohmann::json val;
          if (engineValue(w, x, e, val)) engineSection(c, e.hostConfig)[e.api] = std::move(val);
          return true;
        }
        auto r = refusedServiceKeys().find(name);
        if (r != refusedServiceKeys().end()) {
          w.err(k, "'" + name + "' in " + ctx + " " + r->second);
          return true;
        }
        return false;
      });
  if (deploy) readDeploy(w, deploy, ctx, c);
  w.checkName(c.containerName, "container");
  if (!c.image.set && !hasBuild) w.err(key, ctx + " is missing required key 'image'");
}

namespace {

// `external: true` or the obsolete `external: {name: N}` (Compose still reads it).
bool externalOf(Walker& w, const YNode* a, std::string& name) {
  if (a->isMap()) {
    w.fields(a, "external", {{"name", [&](const YNode* n) {
                               Str s = w.str(n, "name");
                               w.checkName(s, "external");
                               if (s.set) name = s.v;
                             }}});
    return true;
  }
  return w.boolean(a, "external").v;
}

void readIpam(Walker& w, const YNode* a, NamedNetwork& nn) {
  if (!w.needMap(a, "ipam")) return;
  nlohmann::json ipam = nlohmann::json::object();
  w.fields(a, "ipam of network '" + nn.key + "'",
           {{"driver", [&](const YNode* x) { ipam["driver"] = w.str(x, "driver").v; }},
            {"options", [&](const YNode* x) {
               if (!w.needMap(x, "options")) return;
               for (const auto& [k, v] : x->pairs) ipam["options"][k->value] = w.str(v, k->value).v;
             }},
            {"config", [&](const YNode* x) {
               if (!w.needSeq(x, "config")) return;
               ipam["config"] = nlohmann::json::array();
               for (const YNode* it : x->items) {
                 if (!w.needMap(it, "ipam config entry")) continue;
                 nlohmann::json e = nlohmann::json::object();
                 w.fields(it, "ipam config entry",
                          {{"subnet", [&](const YNode* y) { e["subnet"] = w.str(y, "subnet").v; }},
                           {"ip_range", [&](const YNode* y) { e["ip_range"] = w.str(y, "ip_range").v; }},
                           {"gateway", [&](const YNode* y) { e["gateway"] = w.str(y, "gateway").v; }},
                           {"aux_addresses", [&](const YNode* y) {
                              if (!w.needMap(y, "aux_addresses")) return;
                              for (const auto& [k, v] : y->pairs) e["aux_addresses"][k->value] = w.str(v, k->value).v;
                            }}});
                 ipam["config"].push_back(e);
               }
             }}});
  nn.extra["ipam"] = ipam;
}

}  // namespace

void readNamedVolumes(Walker& w, const YNode* v, std::vector<NamedVolume>& out) {
  if (v->isNull()) return;
  w.entries(v, "volumes", [&](const YNode* k, const YNode* x) {
    NamedVolume nv;
    nv.key = k->value;
    nv.loc = w.loc(k);
    if (!validVolumeName(nv.key)) w.err(k, "invalid volume name '" + nv.key + "'");
    if (x->isMap()) {
      w.fields(x, "volume '" + nv.key + "'",
               {{"driver", [&](const YNode* a) { nv.driver = w.str(a, "driver").v; }},
                {"name", [&](const YNode* a) {
                   Str n = w.str(a, "name");
                   w.checkName(n, "volume");
                   nv.name = n.v;
                 }},
                {"external", [&](const YNode* a) { nv.external = externalOf(w, a, nv.name); }},
                {"labels", [&](const YNode* a) {
                   std::vector<std::pair<std::string, Str>> kv;
                   readKv(w, a, "labels", "volume '" + nv.key + "'", kv);
                   for (auto& [lk, lv] : kv) nv.labels[lk] = lv.v;
                 }},
                {"driver_opts", [&](const YNode* a) {
                   if (!w.needMap(a, "driver_opts")) return;
                   for (const auto& [ok, ov] : a->pairs) nv.driverOpts[ok->value] = w.str(ov, ok->value).v;
                 }}},
               [&](const YNode* kk, const YNode*) { return kk->value.rfind("x-", 0) == 0; });
      if (nv.external && (!nv.driverOpts.empty() || !nv.labels.empty()))
        w.err(x, "external volume '" + nv.key + "' cannot set driver_opts or labels (tend does not create it)");
    } else if (!x->isNull()) {
      w.typeErr(x, nv.key, "a mapping");
    }
    out.push_back(std::move(nv));
  });
}

void readNamedNetworks(Walker& w, const YNode* v, std::vector<NamedNetwork>& out) {
  if (v->isNull()) return;
  w.entries(v, "networks", [&](const YNode* k, const YNode* x) {
    NamedNetwork nn;
    nn.key = k->value;
    nn.loc = w.loc(k);
    w.checkName(k, "network");
    if (x->isMap()) {
      w.fields(x, "network '" + nn.key + "'",
               {{"driver", [&](const YNode* a) { nn.driver = w.str(a, "driver").v; }},
                {"name", [&](const YNode* a) {
                   Str n = w.str(a, "name");
                   w.checkName(n, "network");
                   nn.name = n.v;
                 }},
                {"external", [&](const YNode* a) { nn.external = externalOf(w, a, nn.name); }},
                {"driver_opts", [&](const YNode* a) {
                   if (!w.needMap(a, "driver_opts")) return;
                   nlohmann::json o = nlohmann::json::object();
                   for (const auto& [ok, ov] : a->pairs) o[ok->value] = w.str(ov, ok->value).v;
                   nn.extra["driver_opts"] = o;
                 }},
                {"labels", [&](const YNode* a) {
                   std::vector<std::pair<std::string, Str>> kv;
                   readKv(w, a, "labels", "network '" + nn.key + "'", kv);
                   nlohmann::json o = nlohmann::json::object();
                   for (auto& [lk, lv] : kv) o[lk] = lv.v;
                   nn.extra["labels"] = o;
                 }},
                {"internal", [&](const YNode* a) { if (w.boolean(a, "internal").v) nn.extra["internal"] = true; }},
                {"attachable", [&](const YNode* a) { if (w.boolean(a, "attachable").v) nn.extra["attachable"] = true; }},
                {"enable_ipv6", [&](const YNode* a) { if (w.boolean(a, "enable_ipv6").v) nn.extra["enable_ipv6"] = true; }},
                {"enable_ipv4", [&](const YNode* a) {
                   auto b = w.boolean(a, "enable_ipv4");
                   if (b.set && !b.v) w.err(a, "'enable_ipv4: false' needs Docker Engine API 1.47; tend speaks 1.41");
                 }},
                {"ipam", [&](const YNode* a) { readIpam(w, a, nn); }}},
               [&](const YNode* kk, const YNode*) { return kk->value.rfind("x-", 0) == 0; });
      if (nn.external && !nn.extra.empty())
        w.err(x, "external network '" + nn.key + "' cannot set driver options, labels or ipam (tend does not create it)");
    } else if (!x->isNull()) {
      w.typeErr(x, nn.key, "a mapping");
    }
    out.push_back(std::move(nn));
  });
}

}  // namespace tend::spec
