#include "core/spec/compose.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <fstream>
#include <set>

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

void readEnvFile(Walker& w, const Str& file, const std::string& baseDir, const std::string& specRoot, ContainerSpec& c) {
  SpecFile f = confinePath(specRoot, baseDir, file.v);
  if (!f.error.empty()) {
    w.diags().push_back({Severity::Error, file.loc, "env_file '" + file.v + "': " + f.error});
    return;
  }
  const std::string& path = f.path;
  struct stat st {};
  if (f.missing || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    w.diags().push_back({Severity::Error, file.loc, "env_file '" + file.v + "' not found"});
    return;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxSpecFileBytes) {
    w.diags().push_back({Severity::Error, file.loc, "env_file '" + file.v + "' is larger than 4 MiB"});
    return;
  }
  std::ifstream in(path);
  if (!in) {
    w.diags().push_back({Severity::Error, file.loc, "cannot read env_file '" + file.v + "'"});
    return;
  }
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b);
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    auto eq = line.find('=');
    std::string k = line.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'') && v.back() == v[0]) v = v.substr(1, v.size() - 2);
    Str s;
    s.v = v;
    s.loc = file.loc;
    s.set = true;
    c.environment.emplace_back(k, s);
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
                {"mode", [&](const YNode* x) { w.str(x, "mode"); }},
                {"name", [&](const YNode* x) { w.str(x, "name"); }},
                {"app_protocol", [&](const YNode* x) { w.str(x, "app_protocol"); }}});
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
        if (parts.size() == 3) {
          bool okMode = true;
          size_t pos = 0;
          std::string modes = parts[2] + ",";
          while (pos < modes.size()) {
            auto comma = modes.find(',', pos);
            std::string mode = modes.substr(pos, comma - pos);
            pos = comma + 1;
            if (mode == "ro") m.readOnly = true;
            else if (mode == "rw" || mode == "z" || mode == "Z" || mode == "cached" || mode == "delegated" ||
                     mode == "consistent" || mode == "nocopy" || mode == "rshared" || mode == "shared" ||
                     mode == "rslave" || mode == "slave" || mode == "rprivate" || mode == "private")
              continue;
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
      w.fields(it, ctxv,
               {{"type", [&](const YNode* x) { m.type = w.str(x, "type").v; }},
                {"source", [&](const YNode* x) { m.source = w.str(x, "source"); }},
                {"target", [&](const YNode* x) { m.target = w.str(x, "target").v; }},
                {"read_only", [&](const YNode* x) { m.readOnly = w.boolean(x, "read_only").v; }},
                {"bind", [&](const YNode* x) { w.needMap(x, "bind"); }},
                {"volume", [&](const YNode* x) { w.needMap(x, "volume"); }},
                {"tmpfs", [&](const YNode* x) { w.needMap(x, "tmpfs"); }}});
      if (m.type != "bind" && m.type != "volume" && m.type != "tmpfs") {
        w.err(it, "volume of " + ctx + " needs 'type' bind, volume or tmpfs");
        continue;
      }
      if (m.target.empty()) {
        w.err(it, "volume of " + ctx + " is missing required key 'target'");
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
            {"start_interval", [&](const YNode* x) { w.durationS(x, "start_interval"); }},
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
    for (const auto& [k, x] : v->pairs) {
      Str s;
      s.v = k->value;
      s.loc = w.loc(k);
      s.set = true;
      w.checkName(k, "network");
      std::vector<std::string> aliases;
      if (x->isMap()) {
        w.fields(x, "network '" + k->value + "' of container '" + c.name + "'",
                 {{"aliases", [&](const YNode* a) { for (auto& s2 : w.strList(a, "aliases")) aliases.push_back(s2.v); }},
                  {"ipv4_address", [&](const YNode* a) { w.str(a, "ipv4_address"); }},
                  {"ipv6_address", [&](const YNode* a) { w.str(a, "ipv6_address"); }},
                  {"priority", [&](const YNode* a) { w.integer(a, "priority"); }}});
      } else if (!x->isNull()) {
        w.typeErr(x, "networks." + k->value, "a mapping");
      }
      c.networks.emplace_back(s, aliases);
    }
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
                  {"restart", [&](const YNode* a) { w.boolean(a, "restart"); }},
                  {"required", [&](const YNode* a) { w.boolean(a, "required"); }}});
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

void readContainer(Walker& w, const YNode* key, const YNode* v, const std::string& baseDir,
                   const std::string& specRoot, ContainerSpec& c) {
  c.name = key->value;
  c.loc = w.loc(key);
  c.baseDir = baseDir;
  w.checkName(key, "container");
  std::string ctx = "container '" + c.name + "'";
  if (!w.needMap(v, c.name)) return;
  auto strf = [&](Str& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.str(x, k); }}; };
  auto listf = [&](std::vector<Str>& dst, const char* k) {
    return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.strOrList(x, k); }};
  };
  auto boolf = [&](bool& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.boolean(x, k).v; }}; };
  auto sizef = [&](int64_t& dst, const char* k) { return Walker::Field{k, [&w, &dst, k](const YNode* x) { dst = w.sizeBytes(x, k).v; }}; };
  w.fields(
      v, ctx,
      {strf(c.image, "image"),
       strf(c.containerName, "container_name"),
       {"command", [&](const YNode* x) { c.command = cmdOf(w, x, "command"); }},
       {"entrypoint", [&](const YNode* x) { c.entrypoint = cmdOf(w, x, "entrypoint"); }},
       {"environment", [&](const YNode* x) { readKv(w, x, "environment", ctx, c.environment); }},
       {"env_file", [&](const YNode* x) {
          for (auto& f : w.strOrList(x, "env_file")) readEnvFile(w, f, baseDir, specRoot, c);
        }},
       {"ports", [&](const YNode* x) { readPorts(w, x, ctx, c); }},
       {"volumes", [&](const YNode* x) { readVolumes(w, x, ctx, c); }},
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
       listf(c.devices, "devices"),
       {"extra_hosts", [&](const YNode* x) {
          if (x->isMap()) {
            for (const auto& [k, h] : x->pairs) {
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
       {"build", [&](const YNode* x) {
          w.err(x, "'build' is not supported in " + ctx + ": tend runs pinned images (use 'image')");
        }}},
      [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
  w.checkName(c.containerName, "container");
  if (!c.image.set) {
    bool hasBuild = false;
    for (const auto& [k, x] : v->pairs) hasBuild |= k->value == "build";
    if (!hasBuild) w.err(key, ctx + " is missing required key 'image'");
  }
}

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
                {"external", [&](const YNode* a) { nv.external = w.boolean(a, "external").v; }},
                {"labels", [&](const YNode* a) { w.toJson(a); }},
                {"driver_opts", [&](const YNode* a) {
                   if (!w.needMap(a, "driver_opts")) return;
                   for (const auto& [ok, ov] : a->pairs) nv.driverOpts[ok->value] = w.str(ov, ok->value).v;
                 }}});
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
                {"external", [&](const YNode* a) { nn.external = w.boolean(a, "external").v; }},
                {"driver_opts", [&](const YNode* a) { w.needMap(a, "driver_opts"); }},
                {"labels", [&](const YNode* a) { w.toJson(a); }}});
    } else if (!x->isNull()) {
      w.typeErr(x, nn.key, "a mapping");
    }
    out.push_back(std::move(nn));
  });
}

void readComposeFile(Walker& w, const YDoc& doc, const std::string& baseDir,
                     const std::string& specRoot, AppSpec& app) {
  if (!doc.root || doc.root->isNull()) {
    w.err(nullptr, "compose file is empty");
    return;
  }
  if (!doc.root->isMap()) {
    w.typeErr(doc.root, "compose file", "a mapping", true);
    return;
  }
  bool sawServices = false;
  w.fields(
      doc.root, "compose file",
      {{"services", [&](const YNode* x) {
          sawServices = true;
          // Exact capacity: a ContainerSpec is large and a spec may hold thousands.
          if (x->isMap()) app.containers.reserve(app.containers.size() + x->pairs.size());
          w.entries(x, "services", [&](const YNode* k, const YNode* s) {
            ContainerSpec c;
            readContainer(w, k, s, baseDir, specRoot, c);
            app.containers.push_back(std::move(c));
          });
        }},
       {"volumes", [&](const YNode* x) { readNamedVolumes(w, x, app.volumes); }},
       {"networks", [&](const YNode* x) { readNamedNetworks(w, x, app.networks); }},
       {"version", [&](const YNode* x) { w.warn(x, "'version' is obsolete in Compose files and ignored"); }},
       {"name", [&](const YNode* x) {
          w.warn(x, "'name' in a Compose file is ignored: the project name is the app name '" + app.name + "'");
        }}},
      [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
  if (!sawServices) w.err(doc.root, "compose file has no 'services'");
}

}  // namespace tend::spec
