#include "providers/ssh/host_items.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "core/hash.h"
#include "providers/ssh/ssh_session.h"

namespace tend::ssh {
namespace {

using json = nlohmann::json;

std::string q(const std::string& s) { return shellQuote(s); }

std::string str(const json& j, const char* k, const std::string& dflt = "") {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return dflt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return it->dump();
}

bool has(const json& j, const char* k) { return j.contains(k) && !j[k].is_null(); }

std::vector<std::string> strs(const json& j, const char* k) {
  std::vector<std::string> out;
  if (auto it = j.find(k); it != j.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// "0644" / "644" -> "644" (what stat %a prints)
std::string normMode(const std::string& m) {
  size_t i = 0;
  while (i + 1 < m.size() && m[i] == '0') ++i;
  return m.substr(i);
}

std::string squash(const std::string& s) {
  std::string out;
  bool sp = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n') {
      sp = !out.empty();
      continue;
    }
    if (sp) out += ' ';
    sp = false;
    out += c;
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(s);
  while (std::getline(is, cur, sep)) out.push_back(cur);
  return out;
}

std::string procPath(const std::string& key) {
  std::string p = key;
  std::replace(p.begin(), p.end(), '.', '/');
  return "/proc/sys/" + p;
}

std::string sysctlFile(const std::string& key) { return "/etc/sysctl.d/60-tend-" + key + ".conf"; }

// systemd unit text: the value of ExecStart= for `sh -c CMD`.
std::string systemdQuote(const std::string& cmd) {
  std::string out = "\"";
  for (char c : cmd) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '%') out += '%';
    if (c == '$') out += '$';
    out += c;
  }
  return out + "\"";
}

std::string sudoRule(const json& spec) {
  auto it = spec.find("sudo");
  if (it == spec.end() || it->is_null()) return "";
  if (it->is_boolean()) return it->get<bool>() ? spec.value("name", "") + " ALL=(ALL) NOPASSWD:ALL" : "";
  if (it->is_string()) {
    std::string r = it->get<std::string>();
    // "ALL=(ALL) NOPASSWD:ALL" names no user: the rule is for this one.
    if (!r.empty() && r.find(' ') != std::string::npos && r.rfind("ALL", 0) == 0) r = spec.value("name", "") + " " + r;
    return r;
  }
  return "";
}

}  // namespace

std::string timerServiceUnit(const DesiredResource& r);
std::string timerTimerUnit(const DesiredResource& r);

const std::vector<std::string>& hostItemKinds() {
  static const std::vector<std::string> k = {"group", "user",    "directory", "package", "file",   "sysctl",
                                             "timezone", "mount", "service", "timer",   "command"};
  return k;
}

bool isHostItemKind(const std::string& kind) {
  const auto& k = hostItemKinds();
  return std::find(k.begin(), k.end(), kind) != k.end();
}

bool parseItemId(const std::string& id, std::string& host, std::string& kind, std::string& key) {
  if (id.rfind("host/", 0) != 0) return false;
  auto slash = id.find('/', 5);
  if (slash == std::string::npos) return false;
  host = id.substr(5, slash - 5);
  std::string rest = id.substr(slash + 1);
  auto colon = rest.find(':');
  kind = rest.substr(0, colon);
  key = colon == std::string::npos ? "" : rest.substr(colon + 1);
  return isHostItemKind(kind);
}

std::string recordPath(const std::string& id) {
  return std::string(kItemRecordDir) + "/" + sha256Hex(id).substr(0, 32);
}

std::string recordScript(const std::string& id, const std::string& hash, const std::string& detail) {
  std::string rp = recordPath(id);
  return "mkdir -p " + q(kItemRecordDir) + "\nprintf '%s\\t%s\\t%s\\n' " + q(id) + " " + q(hash) + " " + q(detail) +
         " >" + q(rp + ".tmp") + "\nmv -f " + q(rp + ".tmp") + " " + q(rp) + "\n";
}

std::string forgetScript(const std::string& id) { return "rm -f " + q(recordPath(id)) + "\n"; }

std::string commentLeader(const std::string& path, const std::string& content) {
  if (content.rfind("#!", 0) == 0) return "";  // a script: the shebang must stay first
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = base.rfind('.');
  std::string ext = dot == std::string::npos ? "" : base.substr(dot + 1);
  static const std::set<std::string> hash = {"conf", "cfg", "yml", "yaml", "sources", "list", "toml", "service",
                                             "timer", "mount", "socket", "target", "path", "network", "netdev",
                                             "link", "env", "sh", "rules", "allow", "pref", "properties"};
  if (ext == "json" || ext == "pem" || ext == "crt" || ext == "key" || ext == "pub") return "";
  if (base.rfind("named.conf", 0) == 0 || ext == "zone") return "//";
  if (ext == "ini") return ";";
  if (hash.count(ext) || base == "Caddyfile" || base == "crontab" || base == "hosts" || base == "fstab" ||
      path.rfind("/etc/sudoers.d/", 0) == 0 || path.rfind("/etc/cron.d/", 0) == 0)
    return "#";
  return "";
}

std::string fileContentWithMark(const std::string& id, const std::string& path, const std::string& content,
                                const json& spec) {
  if (spec.contains("mark") && spec["mark"].is_boolean() && !spec["mark"].get<bool>()) return content;
  std::string lead = commentLeader(path, content);
  if (lead.empty()) return content;
  return lead + " managed by tend (" + id + "): changes made here are overwritten\n" + content;
}

std::string probeScript(const std::vector<const DesiredResource*>& items) {
  std::string s =
      // One line per field; only a value holding a tab or a newline costs a subshell and tr
      // (a no-op pass runs this for every item of the host, so forks are most of its time).
      "T=$(printf '\\t'); N='\n'\n"
      "e() { case \"$3\" in *\"$T\"*|*\"$N\"*) set -- \"$1\" \"$2\" \"$(printf '%s' \"$3\" | tr '\\t\\n' '  ')\";; esac; "
      "printf '%s\\t%s\\t%s\\n' \"$1\" \"$2\" \"$3\"; }\n"
      "if [ -r /etc/os-release ]; then . /etc/os-release; e @ os \"$PRETTY_NAME\"; fi\n"
      "e @ arch \"$(dpkg --print-architecture 2>/dev/null || uname -m)\"\n"
      "e @ hostname \"$(hostname 2>/dev/null || cat /etc/hostname)\"\n"
      "e @ disk_free_kb \"$(df -Pk / 2>/dev/null | awk 'NR==2{print $4}')\"\n"
      // tend's records: the first line of each, in one awk for all of them.
      "set -- " + std::string(kItemRecordDir) + "/*; [ -f \"$1\" ] && awk 'FNR==1{print \"R\\t\" $0}' \"$@\"\n"
      // Restarts and reloads still owed (kPendingDir): one line per changed path.
      "set -- " + std::string(kPendingDir) + "/*; [ -f \"$1\" ] && awk '{n=FILENAME; sub(/.*\\//, \"\", n); print \"Q\\t\" n \"\\t\" $0}' \"$@\"\n";
  // Files and directories are hashed and stat'ed in one sha256sum and one stat for the whole
  // host (a no-op pass is mostly these): the existing ones are collected in "$@", each with a
  // line `M<TAB>id<TAB>path` that maps the answers (by path) back to the item. A path holding
  // a tab, a newline or a backslash (which sha256sum escapes) is probed on its own.
  auto batchable = [](const std::string& path) { return path.find_first_of("\t\n\\") == std::string::npos; };
  std::string shaList, dirList;
  for (const DesiredResource* r : items) {
    std::string path = str(r->spec, "path");
    if (!batchable(path)) continue;
    std::string id = q(r->id), p = q(path);
    if (r->kind == "file")
      shaList += "if [ -f " + p + " ]; then set -- \"$@\" " + p + "; printf 'M\\t%s\\t%s\\n' " + id + " " + p +
                 "; elif [ -e " + p + " ]; then e " + id + " type other; fi\n";
    else if (r->kind == "directory")
      dirList += "[ -d " + p + " ] && { set -- \"$@\" " + p + "; printf 'M\\t%s\\t%s\\n' " + id + " " + p + "; }\n";
  }
  if (!shaList.empty() || !dirList.empty()) {
    s += "set --\n" + shaList;
    if (!shaList.empty()) s += "[ $# -gt 0 ] && sha256sum -- \"$@\" 2>/dev/null\n";
    s += dirList;
    s += "[ $# -gt 0 ] && stat -c 'F\t%n\t%a %U %G %u %g' -- \"$@\" 2>/dev/null\n";
  }
  std::vector<std::string> pkgs;
  for (const DesiredResource* r : items) {
    const json& j = r->spec;
    const std::string id = q(r->id);
    const std::string& k = r->kind;
    if ((k == "file" || k == "directory") && batchable(str(j, "path"))) continue;
    if (k == "package") {
      pkgs.push_back(str(j, "name"));
      if (str(j, "state") == "latest")
        s += "e " + id + " candidate \"$(apt-cache policy " + q(str(j, "name")) +
             " 2>/dev/null | sed -n 's/^ *Candidate: //p')\"\n";
    } else if (k == "file") {
      std::string p = q(str(j, "path"));
      s += "if [ -f " + p + " ]; then e " + id + " sha \"$(sha256sum <" + p + " | cut -c1-64)\"; e " + id +
           " stat \"$(stat -c '%a %U %G %u %g' " + p + ")\"; elif [ -e " + p + " ]; then e " + id + " type other; fi\n";
    } else if (k == "directory") {
      std::string p = q(str(j, "path"));
      s += "[ -d " + p + " ] && e " + id + " stat \"$(stat -c '%a %U %G %u %g' " + p + ")\"\n";
    } else if (k == "service") {
      std::string n = q(str(j, "name"));
      s += "e " + id + " enabled \"$(systemctl is-enabled " + n + " 2>/dev/null)\"; e " + id +
           " active \"$(systemctl is-active " + n + " 2>/dev/null)\"\n";
    } else if (k == "user") {
      std::string n = q(str(j, "name"));
      s += "if l=$(getent passwd " + n + "); then e " + id + " passwd \"$l\"; e " + id + " groups \"$(id -Gn " + n +
           " 2>/dev/null)\"; h=$(printf '%s' \"$l\" | cut -d: -f6)\n";
      auto keys = strs(j, "authorized_keys");
      for (size_t i = 0; i < keys.size(); ++i)
        s += "  grep -qxF -- " + q(keys[i]) + " \"$h/.ssh/authorized_keys\" 2>/dev/null && e " + id + " key" +
             std::to_string(i) + " 1\n";
      s += "fi\n";
      std::string sf = q("/etc/sudoers.d/tend-" + str(j, "name"));
      s += "[ -f " + sf + " ] && e " + id + " sudo \"$(sha256sum <" + sf + " | cut -c1-64)\"\n";
    } else if (k == "group") {
      s += "l=$(getent group " + q(str(j, "name")) + ") && e " + id + " group \"$l\"\n";
    } else if (k == "mount") {
      std::string p = q(str(j, "path"));
      s += "e " + id + " fstab \"$(awk -v p=" + p + " '$2==p{print $1\" \"$2\" \"$3\" \"$4}' /etc/fstab 2>/dev/null)\"\n";
      s += "e " + id + " mounted \"$(awk -v p=" + p + " '$2==p{print $1\" \"$3}' /proc/mounts | tail -n1)\"\n";
    } else if (k == "sysctl") {
      std::string key = str(j, "key");
      s += "e " + id + " value \"$(cat " + q(procPath(key)) + " 2>/dev/null)\"\n";
      s += "[ -f " + q(sysctlFile(key)) + " ] && e " + id + " file \"$(grep -v '^#' " + q(sysctlFile(key)) + ")\"\n";
    } else if (k == "timezone") {
      s += "e " + id + " link \"$(readlink /etc/localtime 2>/dev/null)\"; e " + id +
           " file \"$(cat /etc/timezone 2>/dev/null)\"\n";
    } else if (k == "command") {
      if (has(j, "creates")) s += "[ -e " + q(str(j, "creates")) + " ] && e " + id + " creates 1\n";
      if (has(j, "unless"))
        s += "sh -c " + q(str(j, "unless")) + " >/dev/null 2>&1 </dev/null && e " + id + " unless 0\n";
    } else if (k == "timer") {
      std::string n = str(j, "name");
      for (const char* u : {"service", "timer"}) {
        std::string f = q("/etc/systemd/system/" + n + "." + u);
        s += "[ -f " + f + " ] && e " + id + " " + u + " \"$(sha256sum <" + f + " | cut -c1-64)\"\n";
      }
      s += "e " + id + " enabled \"$(systemctl is-enabled " + q(n + ".timer") + " 2>/dev/null)\"; e " + id +
           " active \"$(systemctl is-active " + q(n + ".timer") + " 2>/dev/null)\"\n";
    }
  }
  if (!pkgs.empty()) {
    s += "dpkg-query -W -f='P\\t${Package}\\t${db:Status-Abbrev} ${Version}\\n'";
    for (const auto& p : pkgs) s += " " + q(p);
    s += " 2>/dev/null\n";
  }
  s += "true\n";
  return s;
}

ProbeResult parseProbe(const std::string& out) {
  ProbeResult p;
  std::istringstream is(out);
  std::string line;
  std::vector<std::pair<std::string, std::string>> mapped;  // id, path (the batched files and directories)
  std::map<std::string, std::string> shaByPath, statByPath;
  auto isHex64 = [](const std::string& l) {
    if (l.size() < 67) return false;
    for (size_t i = 0; i < 64; ++i)
      if (!std::isxdigit(static_cast<unsigned char>(l[i]))) return false;
    return l[64] == ' ' && (l[65] == ' ' || l[65] == '*');
  };
  while (std::getline(is, line)) {
    auto t1 = line.find('\t');
    if (t1 == std::string::npos) {
      if (isHex64(line)) shaByPath[line.substr(66)] = line.substr(0, 64);  // sha256sum: HASH, 2 chars, path
      continue;
    }
    if (line.compare(0, t1, "Q") == 0) {  // Q<TAB>restart-SVC<TAB>path
      auto t2 = line.find('\t', t1 + 1);
      if (t2 == std::string::npos) continue;
      std::string name = line.substr(t1 + 1, t2 - t1 - 1), path = line.substr(t2 + 1);
      if (name.rfind("restart-", 0) == 0) p.pendingRestarts[name.substr(8)].insert(path);
      else if (name.rfind("reload-", 0) == 0) p.pendingReloads[name.substr(7)].insert(path);
      continue;
    }
    if (line.compare(0, t1, "M") == 0 || line.compare(0, t1, "F") == 0) {
      auto t2 = line.find('\t', t1 + 1);
      if (t2 == std::string::npos) continue;
      std::string b = line.substr(t1 + 1, t2 - t1 - 1), c = line.substr(t2 + 1);
      if (line[0] == 'M') mapped.emplace_back(b, c);
      else statByPath[b] = c;
      continue;
    }
    auto t2 = line.find('\t', t1 + 1);
    std::string a = line.substr(0, t1);
    std::string b = t2 == std::string::npos ? line.substr(t1 + 1) : line.substr(t1 + 1, t2 - t1 - 1);
    std::string c = t2 == std::string::npos ? "" : line.substr(t2 + 1);
    if (a == "@") {
      p.facts[b] = c;
    } else if (a == "R") {
      auto t3 = c.find('\t');
      p.records[b] = {c.substr(0, t3), t3 == std::string::npos ? "" : c.substr(t3 + 1)};
    } else if (a == "P") {
      p.packages[b] = c;
    } else {
      auto& f = p.items[a][b];
      f = f.empty() ? c : f + "\n" + c;
    }
  }
  for (const auto& [id, path] : mapped) {
    auto& f = p.items[id];
    if (auto it = shaByPath.find(path); it != shaByPath.end()) f["sha"] = it->second;
    if (auto it = statByPath.find(path); it != statByPath.end()) f["stat"] = it->second;
  }
  return p;
}

namespace {

std::string field(const ProbeFields& f, const char* k) {
  auto it = f.find(k);
  return it == f.end() ? "" : it->second;
}

std::vector<std::string> driftOf(const DesiredResource& r, const ProbeFields& f, const ProbeResult& p,
                                 const std::string* recordDetail) {
  const json& j = r.spec;
  const std::string& k = r.kind;
  std::vector<std::string> d;
  auto statCheck = [&](const std::string& st) {
    auto parts = split(st, ' ');
    if (parts.size() < 3) return;
    if (has(j, "mode") && normMode(str(j, "mode")) != parts[0]) d.push_back("mode " + parts[0] + ", want " + str(j, "mode"));
    // An owner may be written as a name or a number.
    auto is = [&](size_t name, size_t num, const std::string& want) {
      return want == parts[name] || (parts.size() > num && want == parts[num]);
    };
    if (has(j, "owner") && !is(1, 3, str(j, "owner"))) d.push_back("owner " + parts[1] + ", want " + str(j, "owner"));
    if (has(j, "group") && !is(2, 4, str(j, "group"))) d.push_back("group " + parts[2] + ", want " + str(j, "group"));
  };
  if (k == "package") {
    std::string st = p.packages.count(str(j, "name")) ? p.packages.at(str(j, "name")) : "";
    bool installed = st.rfind("ii", 0) == 0;
    std::string state = str(j, "state", "present");
    std::string version = st.size() > 4 ? st.substr(st.find(' ') + 1) : "";
    if (state == "absent") {
      if (installed) d.push_back("installed (" + version + ")");
    } else if (!installed) {
      d.push_back("not installed");
    } else if (state == "latest") {
      std::string cand = field(f, "candidate");
      if (!cand.empty() && cand != "(none)" && cand != version) d.push_back("upgrade " + version + " -> " + cand);
    }
  } else if (k == "file") {
    std::string sha = field(f, "sha");
    if (field(f, "type") == "other") d.push_back("not a regular file");
    else if (sha.empty()) d.push_back("missing");
    else {
      if (recordDetail && !recordDetail->empty() && *recordDetail != sha) d.push_back("content changed on the host");
      statCheck(field(f, "stat"));
    }
  } else if (k == "directory") {
    std::string st = field(f, "stat");
    if (st.empty()) d.push_back("missing");
    else statCheck(st);
  } else if (k == "service") {
    std::string en = field(f, "enabled"), act = field(f, "active");
    if (j.contains("enabled") && j["enabled"].is_boolean()) {
      bool want = j["enabled"].get<bool>();
      bool is = en == "enabled" || en == "alias" || en == "static" || en == "enabled-runtime";
      if (want && !is) d.push_back(en.empty() ? "not enabled" : en);
      if (!want && en == "enabled") d.push_back("enabled");
    }
    std::string state = str(j, "state");
    if (state == "started" && act != "active") d.push_back(act.empty() ? "not running" : act);
    if (state == "stopped" && act == "active") d.push_back("running");
  } else if (k == "user") {
    std::string pw = field(f, "passwd");
    bool absent = str(j, "state", "present") == "absent";
    if (absent) {
      if (!pw.empty()) d.push_back("exists");
    } else if (pw.empty()) {
      d.push_back("missing");
    } else {
      auto parts = split(pw, ':');
      if (has(j, "uid") && parts.size() > 2 && parts[2] != str(j, "uid")) d.push_back("uid " + parts[2] + ", want " + str(j, "uid"));
      if (has(j, "shell") && parts.size() > 6 && parts[6] != str(j, "shell")) d.push_back("shell " + parts[6] + ", want " + str(j, "shell"));
      auto have = split(field(f, "groups"), ' ');
      for (const auto& g : strs(j, "groups"))
        if (std::find(have.begin(), have.end(), g) == have.end()) d.push_back("not in group " + g);
      auto keys = strs(j, "authorized_keys");
      for (size_t i = 0; i < keys.size(); ++i)
        if (field(f, ("key" + std::to_string(i)).c_str()).empty()) d.push_back("authorized key " + std::to_string(i + 1) + " missing");
      std::string rule = sudoRule(j);
      std::string have_sudo = field(f, "sudo");
      if (!rule.empty() && have_sudo != sha256Hex(rule + "\n")) d.push_back(have_sudo.empty() ? "no sudo rule" : "sudo rule changed");
      if (rule.empty() && j.contains("sudo") && !have_sudo.empty()) d.push_back("sudo rule present");
    }
  } else if (k == "group") {
    std::string g = field(f, "group");
    if (g.empty()) d.push_back("missing");
    else if (has(j, "gid")) {
      auto parts = split(g, ':');
      if (parts.size() > 2 && parts[2] != str(j, "gid")) d.push_back("gid " + parts[2] + ", want " + str(j, "gid"));
    }
  } else if (k == "mount") {
    std::string state = str(j, "state", "mounted");
    std::string want = str(j, "src") + " " + str(j, "path") + " " + str(j, "fstype") + " " + str(j, "opts", "defaults");
    std::string fst = field(f, "fstab"), mnt = field(f, "mounted");
    if (state == "absent") {
      if (!fst.empty()) d.push_back("in /etc/fstab");
      if (!mnt.empty()) d.push_back("mounted");
    } else {
      if (fst != want) d.push_back(fst.empty() ? "not in /etc/fstab" : "fstab has '" + fst + "'");
      if (state == "mounted" && mnt.empty()) d.push_back("not mounted");
      else if (state == "mounted" && mnt != str(j, "src") + " " + str(j, "fstype")) d.push_back("mounted from " + mnt);
    }
  } else if (k == "sysctl") {
    std::string want = squash(str(j, "value"));
    std::string v = squash(field(f, "value"));
    if (v != want) d.push_back("value " + (v.empty() ? std::string("unknown") : v) + ", want " + want);
    if (squash(field(f, "file")) != squash(str(j, "key") + " = " + str(j, "value"))) d.push_back("not persisted");
  } else if (k == "timezone") {
    std::string tz = str(j, "timezone");
    std::string link = field(f, "link");
    std::string suffix = "zoneinfo/" + tz;
    if (link.size() < suffix.size() || link.compare(link.size() - suffix.size(), suffix.size(), suffix) != 0)
      d.push_back("time zone " + (link.empty() ? std::string("unset") : link));
  } else if (k == "command") {
    bool guarded = has(j, "creates") || has(j, "unless");
    if (guarded && field(f, "creates").empty() && field(f, "unless").empty()) d.push_back("not done (guard not met)");
  } else if (k == "timer") {
    if (field(f, "service") != sha256Hex(timerServiceUnit(r))) d.push_back("service unit differs");
    if (field(f, "timer") != sha256Hex(timerTimerUnit(r))) d.push_back("timer unit differs");
    if (field(f, "enabled") != "enabled") d.push_back("timer not enabled");
    if (field(f, "active") != "active") d.push_back("timer not active");
  }
  return d;
}

}  // namespace

ObservedResource observeItem(const DesiredResource& r, const ProbeResult& p) {
  ObservedResource o;
  o.id = r.id;
  static const ProbeFields kNone;
  auto fit = p.items.find(r.id);
  const ProbeFields& f = fit == p.items.end() ? kNone : fit->second;
  auto rec = p.records.find(r.id);
  const std::string* detail = rec == p.records.end() ? nullptr : &rec->second.second;
  if (rec != p.records.end()) {
    o.exists = true;
    o.owned = true;
    o.appliedHash = rec->second.first;
  }
  auto drift = driftOf(r, f, p, detail);
  o.state = json::object();
  o.state["drift"] = drift;
  for (const auto& [k, v] : f) o.state[k] = v;
  if (r.kind == "file" && !f.count("sha") && !f.count("type")) o.state["absent_on_host"] = true;
  if (r.kind == "file" && f.count("sha")) o.state["present_on_host"] = true;
  o.ready = o.exists && o.appliedHash == r.hash && drift.empty();
  if (o.ready) o.message = "up to date";
  else if (!drift.empty()) {
    std::string m;
    for (const auto& x : drift) m += (m.empty() ? "" : "; ") + x;
    o.message = m;
  } else if (!o.exists) o.message = "not managed yet";
  else o.message = "spec changed";
  return o;
}

ObservedResource observeRecord(const std::string& id, const ProbeResult& p) {
  ObservedResource o;
  o.id = id;
  auto rec = p.records.find(id);
  if (rec == p.records.end()) return o;
  o.exists = true;
  o.owned = true;
  o.appliedHash = rec->second.first;
  o.ready = true;
  o.state = {{"drift", json::array()}, {"record_detail", rec->second.second}};
  return o;
}

std::string timerServiceUnit(const DesiredResource& r) {
  const json& j = r.spec;
  std::string s = "# managed by tend (" + r.id + ")\n[Unit]\nDescription=" +
                  str(j, "description", "tend timer " + str(j, "name")) + "\n\n[Service]\nType=oneshot\n";
  if (has(j, "user")) s += "User=" + str(j, "user") + "\n";
  s += "ExecStart=/bin/sh -c " + systemdQuote(str(j, "command")) + "\n";
  return s;
}

std::string timerTimerUnit(const DesiredResource& r) {
  const json& j = r.spec;
  std::string s = "# managed by tend (" + r.id + ")\n[Unit]\nDescription=" +
                  str(j, "description", "tend timer " + str(j, "name")) + "\n\n[Timer]\nOnCalendar=" +
                  str(j, "on_calendar", "daily") + "\nPersistent=" +
                  (j.value("persistent", true) ? "true" : "false") + "\n";
  if (has(j, "randomized_delay_s")) s += "RandomizedDelaySec=" + str(j, "randomized_delay_s") + "\n";
  s += "\n[Install]\nWantedBy=timers.target\n";
  return s;
}

namespace {

// Writes `content` to `path` atomically from inside a script (heredoc-free: printf of a quoted
// string), with mode.
std::string writeScript(const std::string& path, const std::string& content, const std::string& mode) {
  std::string d = path.substr(0, path.rfind('/'));
  return "mkdir -p " + q(d.empty() ? "/" : d) + "\nt=$(mktemp " + q((d.empty() ? "" : d) + "/.tend.XXXXXX") +
         ")\nprintf '%s' " + q(content) + " >\"$t\"\nchmod " + mode + " \"$t\"\nmv -f \"$t\" " + q(path) + "\n";
}

const char* kSystemd = "[ -d /run/systemd/system ] || command -v systemctl >/dev/null";

}  // namespace

namespace {
bool serviceFileName(const std::string& svc) {
  if (svc.empty() || svc.size() > 200 || svc[0] == '.') return false;
  for (unsigned char c : svc)
    if (!std::isalnum(c) && c != '@' && c != '.' && c != '_' && c != '-' && c != ':') return false;
  return true;
}
}  // namespace

std::string pendingMarkScript(const std::string& action, const std::string& service, const std::string& path) {
  if (!serviceFileName(service) || path.find('\n') != std::string::npos) return "";
  return "mkdir -p " + q(kPendingDir) + " && printf '%s\\n' " + q(path) + " >> " +
         q(std::string(kPendingDir) + "/" + action + "-" + service) + "\n";
}

std::string pendingClearScript(const std::string& service) {
  if (!serviceFileName(service)) return "";
  return "rm -f " + q(std::string(kPendingDir) + "/restart-" + service) + " " +
         q(std::string(kPendingDir) + "/reload-" + service) + "\n";
}

std::string fileApplyScript(const DesiredResource& r, const std::string& sha) {
  const json& j = r.spec;
  std::string p = str(j, "path");
  std::string d = p.substr(0, p.rfind('/'));
  if (d.empty()) d = "/";
  std::string b = std::string(kBackupDir) + p;
  std::string s = "set -e\nd=" + q(d) + "\np=" + q(p) + "\nmkdir -p \"$d\"\nt=$(mktemp \"$d/.tend.XXXXXX\")\n"
                  // A signal (the session dropped while the content streamed: tendd killed, the
                  // network gone) exits through the EXIT trap too: no half-written temporary file
                  // stays beside the file.
                  "trap 'rm -f \"$t\"' EXIT\ntrap 'exit 1' HUP INT TERM PIPE\ncat >\"$t\"\n"
                  "if [ \"$(sha256sum <\"$t\" | cut -c1-64)\" != " + q(sha) + " ]; then echo \"content arrived "
                  "incomplete: $p left as it was\" >&2; exit 1; fi\n"
                  "chown " + q(str(j, "owner", "root") + ":" + str(j, "group", "root")) + " \"$t\"\n"
                  "chmod " + q(str(j, "mode", "0644")) + " \"$t\"\n"
                  "if [ -e \"$p\" ] && [ ! -e " + q(b) + " ] && [ ! -f " + q(recordPath(r.id)) + " ]; then mkdir -p " +
                  q(b.substr(0, b.rfind('/'))) + "; cp -a \"$p\" " + q(b) + "; fi\n"
                  "sync \"$t\" 2>/dev/null || true\nmv -f \"$t\" \"$p\"\ntrap - EXIT\n";
  s += recordScript(r.id, r.hash, sha);
  return s;
}

std::string fileDeleteScript(const std::string& id, const std::string& path) {
  std::string b = std::string(kBackupDir) + path;
  return "set -e\nif [ -e " + q(b) + " ]; then mv -f " + q(b) + " " + q(path) + "; else rm -f " + q(path) + "; fi\n" +
         forgetScript(id);
}

std::string itemApplyScript(const DesiredResource& r, bool restart, bool reload) {
  const json& j = r.spec;
  const std::string& k = r.kind;
  std::string s = "set -e\n";
  std::string detail;
  if (k == "directory") {
    std::string p = q(str(j, "path"));
    s += "mkdir -p " + p + "\nchown " + q(str(j, "owner", "root") + ":" + str(j, "group", "root")) + " " + p +
         "\nchmod " + q(str(j, "mode", "0755")) + " " + p + "\n";
  } else if (k == "service") {
    std::string n = q(str(j, "name"));
    // A unit file tend (or anyone) changed since systemd read it: reload systemd first, or
    // the restart would run the old unit (systemd only warns).
    s += "if [ \"$(systemctl show -p NeedDaemonReload --value " + n + " 2>/dev/null)\" = yes ]; then systemctl daemon-reload; fi\n";
    if (j.contains("enabled") && j["enabled"].is_boolean())
      s += "systemctl " + std::string(j["enabled"].get<bool>() ? "enable" : "disable") + " " + n + "\n";
    std::string state = str(j, "state");
    if (restart && state != "stopped") s += "systemctl restart " + n + "\n";
    else if (reload && state != "stopped") s += "systemctl reload " + n + "\n";
    else if (state == "started") s += "systemctl is-active --quiet " + n + " || systemctl start " + n + "\n";
    else if (state == "stopped") s += "systemctl stop " + n + "\n";
  } else if (k == "user") {
    std::string n = q(str(j, "name"));
    if (str(j, "state", "present") == "absent") {
      s += "if getent passwd " + n + " >/dev/null; then userdel " + n + "; fi\nrm -f " +
           q("/etc/sudoers.d/tend-" + str(j, "name")) + "\n";
    } else {
      std::string opts;
      if (has(j, "uid")) opts += " -u " + q(str(j, "uid"));
      if (has(j, "shell")) opts += " -s " + q(str(j, "shell"));
      std::string add = opts;
      if (has(j, "home")) add += " -d " + q(str(j, "home"));
      s += "if ! getent passwd " + n + " >/dev/null; then useradd -m" + add + " " + n + "\n";
      if (!opts.empty()) s += "else usermod" + opts + " " + n + "\n";
      s += "fi\n";
      auto groups = strs(j, "groups");
      if (!groups.empty()) {
        std::string gl;
        for (const auto& g : groups) gl += (gl.empty() ? "" : ",") + g;
        s += "usermod -a -G " + q(gl) + " " + n + "\n";
      }
      std::string rule = sudoRule(j);
      std::string sf = "/etc/sudoers.d/tend-" + str(j, "name");
      if (!rule.empty()) {
        s += "t=$(mktemp /etc/sudoers.d/.tend.XXXXXX)\nprintf '%s\\n' " + q(rule) +
             " >\"$t\"\nchmod 0440 \"$t\"\nif ! visudo -cqf \"$t\" >/dev/null; then rm -f \"$t\"; echo 'sudo rule "
             "rejected by visudo: '" + q(rule) + " >&2; exit 1; fi\nmv -f \"$t\" " + q(sf) + "\n";
      } else if (j.contains("sudo")) {
        s += "rm -f " + q(sf) + "\n";
      }
      auto keys = strs(j, "authorized_keys");
      if (!keys.empty()) {
        s += "h=$(getent passwd " + n + " | cut -d: -f6)\ng=$(id -gn " + n + ")\nmkdir -p \"$h/.ssh\"\nchown " +
             n + ":\"$g\" \"$h/.ssh\"\nchmod 700 \"$h/.ssh\"\na=\"$h/.ssh/authorized_keys\"\ntouch \"$a\"\n";
        for (const auto& key : keys) s += "grep -qxF -- " + q(key) + " \"$a\" || printf '%s\\n' " + q(key) + " >>\"$a\"\n";
        s += "chown " + n + ":\"$g\" \"$a\"\nchmod 600 \"$a\"\n";
      }
    }
  } else if (k == "group") {
    std::string n = q(str(j, "name"));
    std::string gid = has(j, "gid") ? " -g " + q(str(j, "gid")) : "";
    s += "if ! getent group " + n + " >/dev/null; then groupadd" + gid + " " + n + "\n";
    if (!gid.empty())
      s += "elif [ \"$(getent group " + n + " | cut -d: -f3)\" != " + q(str(j, "gid")) + " ]; then groupmod" + gid +
           " " + n + "\n";
    s += "fi\n";
  } else if (k == "mount") {
    std::string p = q(str(j, "path"));
    std::string state = str(j, "state", "mounted");
    std::string line = str(j, "src") + " " + str(j, "path") + " " + str(j, "fstype") + " " + str(j, "opts", "defaults") + " 0 0";
    if (state == "absent") s += "if awk -v p=" + p + " '$2==p{f=1} END{exit !f}' /proc/mounts; then umount " + p + "; fi\n";
    s += "t=$(mktemp /etc/.fstab.XXXXXX)\nawk -v p=" + p + " '$2!=p' /etc/fstab >\"$t\" 2>/dev/null || true\n";
    if (state != "absent") s += "printf '%s\\n' " + q(line) + " >>\"$t\"\n";
    s += "chmod 0644 \"$t\"\nmv -f \"$t\" /etc/fstab\n";
    s += "if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi\n";
    if (state == "mounted") {
      s += "mkdir -p " + p + "\ncur=$(awk -v p=" + p + " '$2==p{print $1\" \"$3}' /proc/mounts | tail -n1)\n"
           "if [ \"$cur\" != " + q(str(j, "src") + " " + str(j, "fstype")) + " ]; then\n  [ -z \"$cur\" ] || umount " + p +
           "\n  mount " + p + "\nfi\n";
    }
  } else if (k == "sysctl") {
    std::string key = str(j, "key"), v = str(j, "value");
    s += writeScript(sysctlFile(key), key + " = " + v + "\n", "0644");
    s += "printf '%s\\n' " + q(v) + " >" + q(procPath(key)) + "\n";
  } else if (k == "timezone") {
    std::string tz = str(j, "timezone");
    s += "[ -e " + q("/usr/share/zoneinfo/" + tz) + " ] || { echo " + q("no such time zone: " + tz + " (is tzdata installed?)") +
         " >&2; exit 1; }\nln -sfn " + q("/usr/share/zoneinfo/" + tz) + " /etc/localtime\nprintf '%s\\n' " + q(tz) +
         " >/etc/timezone\n";
  } else if (k == "command") {
    std::string run = str(j, "run");
    if (has(j, "user")) s += "cd / && runuser -u " + q(str(j, "user")) + " -- sh -c " + q(run) + "\n";
    else s += "cd / && sh -c " + q(run) + "\n";
    if (has(j, "creates"))
      s += "[ -e " + q(str(j, "creates")) + " ] || { echo " + q("ran, but " + str(j, "creates") + " still does not exist") +
           " >&2; exit 1; }\n";
  } else if (k == "timer") {
    std::string n = str(j, "name");
    s += writeScript("/etc/systemd/system/" + n + ".service", timerServiceUnit(r), "0644");
    s += writeScript("/etc/systemd/system/" + n + ".timer", timerTimerUnit(r), "0644");
    s += "systemctl daemon-reload\nsystemctl enable " + q(n + ".timer") + "\nsystemctl restart " + q(n + ".timer") + "\n";
  }
  (void)kSystemd;
  s += recordScript(r.id, r.hash, detail);
  return s;
}

std::string itemDeleteScript(const std::string& id, const std::string& kind, const json& state) {
  std::string host, k, key;
  parseItemId(id, host, k, key);
  (void)state;
  std::string s = "set -e\n";
  if (kind == "file") return fileDeleteScript(id, key);
  if (kind == "sysctl") s += "rm -f " + q(sysctlFile(key)) + "\n";
  if (kind == "mount") {
    s += "if awk -v p=" + q(key) + " '$2==p{f=1} END{exit !f}' /proc/mounts; then umount " + q(key) + "; fi\n";
    s += "t=$(mktemp /etc/.fstab.XXXXXX)\nawk -v p=" + q(key) + " '$2!=p' /etc/fstab >\"$t\" || true\nchmod 0644 \"$t\"\nmv -f \"$t\" /etc/fstab\n";
  }
  if (kind == "timer") {
    s += "systemctl disable --now " + q(key + ".timer") + " || true\nrm -f " + q("/etc/systemd/system/" + key + ".service") +
         " " + q("/etc/systemd/system/" + key + ".timer") + "\nsystemctl daemon-reload || true\n";
  }
  // Packages, users, groups, services, directories and commands are left as they are: tend
  // forgets them (removing a user or a package is a spec change: `state: absent`).
  return s + forgetScript(id);
}

std::string aptScript(const std::vector<std::string>& install, const std::vector<std::string>& latest,
                      const std::vector<std::string>& remove,
                      const std::vector<std::pair<std::string, std::string>>& records, int cacheValidSeconds) {
  std::string s =
      "set -e\nexport DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a\n"
      "o='-q -y -o DPkg::Lock::Timeout=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold'\n";
  if (!install.empty() || !latest.empty()) {
    int minutes = std::max(1, cacheValidSeconds / 60);
    s += "if [ -z \"$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -" + std::to_string(minutes) +
         " 2>/dev/null | head -n1)\" ]; then apt-get $o update >&2; fi\n";
  }
  std::string args;
  for (const auto& p : install) args += " " + q(p);
  for (const auto& p : latest) args += " " + q(p);
  for (const auto& p : remove) args += " " + q(p + "-");
  if (!args.empty()) s += "apt-get $o --no-install-recommends install" + args + " >&2\n";
  for (const auto& [id, hash] : records) s += recordScript(id, hash, "");
  return s;
}

bool isDpkgLockError(const std::string& text) {
  return text.find("Could not get lock") != std::string::npos ||
         text.find("Unable to acquire the dpkg frontend lock") != std::string::npos ||
         text.find("is locked by another process") != std::string::npos;
}

}  // namespace tend::ssh
