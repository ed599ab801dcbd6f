#include "providers/proxmox/vm_model.h"

#include <sstream>

#include "providers/proxmox/normalize.h"
#include "providers/proxmox/wire.h"

namespace tend::proxmox {
using nlohmann::json;

namespace {

constexpr const char* kMarkPrefix = "tend: ";

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return s;
}

std::string trim(std::string s) {
  s = rtrim(std::move(s));
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return s.substr(i);
}

std::string str(const json& j, const char* key, const std::string& def = "") {
  if (!j.is_object()) return def;
  auto v = stringField(j, key);
  return v ? *v : def;
}

// Newline-separated keys, trimmed, empty lines dropped.
std::vector<std::string> keyLines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    line = trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string joinLines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::string joinSpaces(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

bool agentEnabled(const std::string& value) {
  auto kv = splitPropertyString(value, "enabled");
  if (!kv) return false;
  for (auto& [k, v] : *kv)
    if (k == "enabled") return asBool(json(v)).value_or(false);
  return false;
}

bool isDiskValue(const std::string& v) {
  return v.find("media=cdrom") == std::string::npos && v.find("cloudinit") == std::string::npos;
}

// The NIC the spec asks for: virtio on the bridge; the MAC and options of the existing one kept.
NetDevice desiredNet(const DesiredVm& d, const NetDevice* actual) {
  NetDevice n;
  n.model = "virtio";
  n.bridge = d.bridge;
  if (actual) {
    n.mac = actual->mac;
    n.options = actual->options;
  }
  return n;
}

}  // namespace

std::string markedDescription(const std::string& userDescription, const Mark& m) {
  std::string line = std::string(kMarkPrefix) + "io.tend.resource=" + m.resource;
  if (!m.environment.empty()) line += " io.tend.environment=" + m.environment;
  if (!m.hash.empty()) line += " io.tend.spec-hash=" + m.hash;
  std::string u = rtrim(userDescription);
  return u.empty() ? line : u + "\n\n" + line;
}

void splitDescription(const std::string& text, std::string& userDescription, Mark& mark) {
  std::string t = rtrim(text);
  mark = Mark{};
  size_t nl = t.rfind('\n');
  std::string last = nl == std::string::npos ? t : t.substr(nl + 1);
  if (last.rfind(kMarkPrefix, 0) != 0) {
    userDescription = t;
    return;
  }
  userDescription = rtrim(nl == std::string::npos ? "" : t.substr(0, nl));
  std::stringstream ss(last.substr(std::string(kMarkPrefix).size()));
  std::string tok;
  while (ss >> tok) {
    auto eq = tok.find('=');
    if (eq == std::string::npos) continue;
    std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
    if (k == "io.tend.resource") mark.resource = v;
    else if (k == "io.tend.environment") mark.environment = v;
    else if (k == "io.tend.spec-hash") mark.hash = v;
  }
}

Result<DesiredVm> desiredOf(const DesiredResource& r, const Settings& s, const std::string& environment) {
  const json& p = r.spec;
  DesiredVm d;
  d.id = r.id;
  d.hash = r.hash;
  d.isTemplate = r.kind == "template";
  d.name = str(p, "name");
  auto bad = [&](const std::string& m) { return makeError(r.id + ": " + m, true); };
  auto vmid = intField(p, "vmid");
  if (!vmid || *vmid < 100 || *vmid > 999999999) return bad("vmid must be 100..999999999");
  d.vmid = *vmid;
  d.node = str(p, "node", s.node);
  d.storage = str(p, "storage", s.storage);
  d.bridge = str(p, "bridge", s.bridge);
  d.environment = str(p, "environment", environment);
  d.imageStorage = str(p, "image_storage", s.imageStorage);
  if (d.node.empty()) return bad("no Proxmox node (providers.proxmox.node)");
  if (auto c = intField(p, "cores")) d.cores = *c;
  else d.cores = d.isTemplate ? 2 : 1;
  if (p.contains("memory") && !p["memory"].is_null()) {
    auto m = specMemoryMiB(p["memory"]);
    if (!m) return bad(m.error().message);
    d.memoryMiB = *m;
  } else {
    d.memoryMiB = d.isTemplate ? 2048 : 1024;
  }
  if (std::string disk = str(p, "disk"); !disk.empty()) {
    auto b = parseSize(disk);
    if (!b) return bad("disk: " + b.error().message);
    d.diskBytes = *b;
  }
  d.agent = s.agent;
  if (p.contains("agent")) d.agent = asBool(p["agent"]).value_or(s.agent);
  if (std::string rs = str(p, "restart"); !rs.empty()) {
    if (rs != "auto" && rs != "manual") return bad("restart must be auto or manual");
    d.restartAuto = rs == "auto";
  } else {
    d.restartAuto = s.restartAuto;
  }
  d.description = str(p, "description");
  std::vector<std::string> tags = {"tend"};
  if (p.contains("tags") && p["tags"].is_array())
    for (const auto& t : p["tags"])
      if (t.is_string()) tags.push_back(t.get<std::string>());
  d.tags = normalizeTags(tags);
  if (d.isTemplate) {
    d.imageUrl = str(p, "image_url");
    d.sha256 = str(p, "sha256");
    d.onboot = false;
    return d;
  }
  if (auto t = intField(p, "template")) d.templateVmid = *t;
  std::string ip = str(p, "ip");
  if (!ip.empty()) {
    int64_t prefix = intField(p, "prefix").value_or(24);
    d.expectedIp = ip;
    IpConfig c;
    c.ip = ip == "dhcp" ? ip : ip + "/" + std::to_string(prefix);
    std::string gw = str(p, "gateway");
    if (!gw.empty() && ip != "dhcp") c.gw = gw;
    auto parsed = parseIpConfig(formatIpConfig(c));
    if (!parsed) return bad(parsed.error().message);
    d.ipconfig0 = formatIpConfig(*parsed);
    if (ip == "dhcp") d.expectedIp.clear();
  }
  if (p.contains("nameservers") && p["nameservers"].is_array()) {
    std::vector<std::string> ns;
    for (const auto& n : p["nameservers"])
      if (n.is_string() && !n.get<std::string>().empty()) ns.push_back(n.get<std::string>());
    d.nameserver = joinSpaces(ns);
  }
  d.searchdomain = str(p, "searchdomain", s.searchdomain);
  d.ciuser = str(p, "ciuser", s.ciuser);
  if (p.contains("ssh_keys") && p["ssh_keys"].is_array()) {
    for (const auto& k : p["ssh_keys"])
      if (k.is_string())
        for (const auto& line : keyLines(k.get<std::string>())) d.sshKeys.push_back(line);
  } else {
    for (const auto& k : s.sshKeys)
      for (const auto& line : keyLines(k)) d.sshKeys.push_back(line);
  }
  if (p.contains("onboot")) d.onboot = asBool(p["onboot"]).value_or(true);
  return d;
}

std::string bootDiskKey(const json& config) {
  for (const char* k : {"scsi0", "virtio0", "sata0", "ide0"}) {
    auto v = stringField(config, k);
    if (v && isDiskValue(*v)) return k;
  }
  return "";
}

json stateFromConfig(const json& config) {
  json st = json::object();
  st["name"] = str(config, "name");
  st["cores"] = intField(config, "cores").value_or(1);
  st["sockets"] = intField(config, "sockets").value_or(1);
  int64_t mem = 512;
  if (auto m = stringField(config, "memory")) {
    if (auto mm = parseConfigMemoryMiB(*m)) mem = *mm;
  }
  st["memory"] = mem;
  for (const char* k : {"net0", "ipconfig0", "nameserver", "searchdomain", "ciuser", "digest", "lock"})
    st[k] = str(config, k);
  st["sshkeys"] = joinLines(keyLines(percentDecode(str(config, "sshkeys"))));
  st["tags"] = normalizeTagString(str(config, "tags"));
  st["onboot"] = boolField(config, "onboot").value_or(false);
  st["agent"] = agentEnabled(str(config, "agent"));
  st["template"] = boolField(config, "template").value_or(false);
  std::string user;
  Mark m;
  splitDescription(str(config, "description"), user, m);
  st["description"] = user;
  st["mark"] = {{"resource", m.resource}, {"environment", m.environment}, {"hash", m.hash}};
  std::string dk = bootDiskKey(config);
  st["disk"] = {{"key", dk}, {"bytes", nullptr}};
  if (!dk.empty())
    if (auto b = diskSizeOf(str(config, dk.c_str()))) st["disk"]["bytes"] = *b;
  return st;
}

std::string VmDiff::summary() const {
  std::string out;
  for (const auto& c : changes) {
    if (!out.empty()) out += ", ";
    out += c.field + " " + (c.from.empty() ? "(unset)" : c.from) + " -> " + (c.to.empty() ? "(unset)" : c.to);
  }
  if (!refusal.empty()) out += (out.empty() ? "" : "; ") + refusal;
  return out;
}

VmDiff diffVm(const DesiredVm& d, const json& st) {
  VmDiff out;
  auto add = [&](const std::string& f, const std::string& from, const std::string& to, bool reboot) {
    out.changes.push_back({f, from, to, reboot});
  };
  if (!d.name.empty() && st.value("name", "") != d.name) add("name", st.value("name", ""), d.name, false);
  if (st.value("cores", int64_t{1}) != d.cores)
    add("cores", std::to_string(st.value("cores", int64_t{1})), std::to_string(d.cores), true);
  if (st.value("memory", int64_t{512}) != d.memoryMiB)
    add("memory", std::to_string(st.value("memory", int64_t{512})), std::to_string(d.memoryMiB), true);
  {
    std::string raw = st.value("net0", "");
    auto actual = raw.empty() ? Result<NetDevice>(makeError("absent", true)) : parseNet(raw);
    NetDevice want = desiredNet(d, actual ? &*actual : nullptr);
    if (!actual || !netDiff(*actual, want).empty()) add("net0", raw, formatNet(want), false);
  }
  if (!d.ipconfig0.empty()) {
    std::string raw = st.value("ipconfig0", "");
    auto a = parseIpConfig(raw);
    auto w = parseIpConfig(d.ipconfig0);
    if (!a || !w || !(*a == *w)) add("ipconfig0", raw, d.ipconfig0, true);
  }
  if (!d.nameserver.empty() && splitList(st.value("nameserver", "")) != splitList(d.nameserver))
    add("nameserver", st.value("nameserver", ""), d.nameserver, true);
  if (!d.searchdomain.empty() && st.value("searchdomain", "") != d.searchdomain)
    add("searchdomain", st.value("searchdomain", ""), d.searchdomain, true);
  if (!d.ciuser.empty() && st.value("ciuser", "") != d.ciuser) add("ciuser", st.value("ciuser", ""), d.ciuser, true);
  if (!d.sshKeys.empty()) {
    std::string want = joinLines(d.sshKeys);
    std::string have = st.value("sshkeys", "");
    if (have != want)
      add("sshkeys", std::to_string(keyLines(have).size()) + " keys", std::to_string(d.sshKeys.size()) + " keys", true);
  }
  if (st.value("tags", "") != d.tags) add("tags", st.value("tags", ""), d.tags, false);
  if (st.value("onboot", false) != d.onboot) add("onboot", st.value("onboot", false) ? "1" : "0", d.onboot ? "1" : "0", false);
  if (st.value("agent", false) != d.agent) add("agent", st.value("agent", false) ? "1" : "0", d.agent ? "1" : "0", true);
  if (st.value("description", "") != rtrim(d.description))
    add("description", st.value("description", ""), rtrim(d.description), false);
  if (d.diskBytes && st.contains("disk") && st["disk"]["bytes"].is_number_unsigned()) {
    uint64_t cur = st["disk"]["bytes"].get<uint64_t>();
    std::string key = st["disk"].value("key", "scsi0");
    auto r = planDiskResize(key, cur, *d.diskBytes);
    if (r.kind == DiskResize::Kind::Shrink) out.refusal = r.message;
    else if (r.kind == DiskResize::Kind::Grow) add("disk", formatSize(cur), r.size, false);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> configParams(const DesiredVm& d, const VmDiff& diff,
                                                              const json& st, bool writeDescription) {
  Params out;
  for (const auto& c : diff.changes) {
    if (c.field == "disk" || c.field == "description") continue;
    if (c.field == "sshkeys") out.emplace_back("sshkeys", encodeSshKeys(d.sshKeys));
    else if (c.field == "cores") out.emplace_back("cores", std::to_string(d.cores));
    else if (c.field == "memory") out.emplace_back("memory", std::to_string(d.memoryMiB));
    else if (c.field == "onboot") out.emplace_back("onboot", boolParam(d.onboot));
    else if (c.field == "agent") out.emplace_back("agent", boolParam(d.agent));
    else out.emplace_back(c.field, c.to);
  }
  bool descChanged = false;
  for (const auto& c : diff.changes) descChanged |= c.field == "description";
  if (writeDescription || descChanged)
    out.emplace_back("description", markedDescription(d.description, {d.id, d.environment, d.hash}));
  if (!out.empty() && !st.value("digest", "").empty()) out.emplace_back("digest", st.value("digest", ""));
  return out;
}

}  // namespace tend::proxmox
