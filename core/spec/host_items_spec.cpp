#include "core/spec/host_items_spec.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/spec/loader.h"

namespace tend::spec {
namespace {

using json = nlohmann::json;

bool octalMode(const Str& m) {
  return m.set && m.v.size() >= 3 && m.v.size() <= 4 && m.v.find_first_not_of("01234567") == std::string::npos;
}

// A JSON pointer token (RFC 6901).
std::string tok(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '~') o += "~0";
    else if (c == '/') o += "~1";
    else o += c;
  }
  return o;
}

bool accountName(const std::string& s) {
  if (s.empty() || s.size() > 32 || s[0] == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || (c >= 'A' && c <= 'Z');
  });
}

void mode(Walker& w, const YNode* z, json& out) {
  Str m = w.str(z, "mode");
  if (m.set && !octalMode(m)) w.err(z, "'mode' must be an octal string like \"0755\", got '" + m.v + "'");
  out["mode"] = m.v;
}

// A string that may carry ${…}: kept with its location for the expansion.
void text(Walker& w, const YNode* z, const char* key, json& out, GroupSpec& g, const std::string& ptr) {
  Str v = w.str(z, key);
  out[key] = v.v;
  if (v.v.find('$') != std::string::npos) g.itemStrings.emplace_back(ptr + "/" + key, v);
}

}  // namespace

void readFileTemplate(FileTemplateCtx& c, const YNode* z) {
  Walker& w = c.w;
  if (c.hasContent) w.err(z, c.fctx + ": use one of 'content', 'source' or 'template'");
  c.hasContent = true;
  Str src = w.str(z, "template");
  if (!src.set) return;
  std::string why = confinePath(c.specDir, c.specDir, src.v).error;
  if (!why.empty()) {
    w.err(z, "template '" + src.v + "': " + why);
    return;
  }
  std::string abs = src.v[0] == '/' ? src.v : c.specDir + "/" + src.v;
  std::ifstream tf(abs, std::ios::binary);
  if (!tf) {
    w.err(z, "template '" + src.v + "': cannot read " + abs);
    return;
  }
  std::stringstream ts;
  ts << tf.rdbuf();
  Str content{ts.str(), src.loc, true};
  c.f["content"] = content.v;
  c.f["template"] = src.v;
  c.g.fileContents.emplace_back(c.path, content);
}

void readGroupPackages(Walker& w, const YNode* y, GroupSpec& g) {
  if (!w.needSeq(y, "packages")) return;
  for (const YNode* it : y->items) {
    if (it->isMap()) {
      Str name;
      std::string state = "present";
      w.fields(it, "package entry",
               {{"name", [&](const YNode* z) { name = w.str(z, "name"); }},
                {"state", [&](const YNode* z) {
                   Str st = w.str(z, "state");
                   if (st.set && st.v != "present" && st.v != "absent" && st.v != "latest")
                     w.err(z, "package 'state' must be present, absent or latest, got '" + st.v + "'");
                   state = st.v;
                 }}});
      if (!name.set || name.v.empty()) {
        w.err(it, "package entry needs 'name'");
        continue;
      }
      g.packages.push_back(name);
      if (state != "present") g.packageStates[name.v] = state;
    } else {
      Str n = w.str(it, "packages");
      if (n.set) g.packages.push_back(n);
    }
  }
}

void readGroupHostItem(Walker& w, const std::string& key, const YNode* y, GroupSpec& g, const std::string& ctx) {
  json& items = g.items;
  if (key == "timezone") {
    Str tz = w.str(y, "timezone");
    if (tz.set && (tz.v.empty() || tz.v.find("..") != std::string::npos || tz.v[0] == '/'))
      w.err(y, "'timezone' must be a zone name like America/New_York, got '" + tz.v + "'");
    items["timezone"] = tz.v;
    if (tz.v.find('$') != std::string::npos) g.itemStrings.emplace_back("/timezone", tz);
    return;
  }
  if (key == "sysctl") {
    w.entries(y, "sysctl", [&](const YNode* k, const YNode* v) {
      const std::string& name = k->value;
      bool ok = !name.empty() && name.find("..") == std::string::npos &&
                std::all_of(name.begin(), name.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
                });
      if (!ok) w.err(k, "invalid sysctl key '" + printable(name) + "' (like net.ipv4.ip_forward)");
      if (!v->isScalar()) {
        w.typeErr(v, name, "a scalar");
        return;
      }
      json j = Walker::toJson(v);
      std::string val = j.is_string() ? j.get<std::string>() : j.is_boolean() ? (j.get<bool>() ? "1" : "0") : j.dump();
      items["sysctl"][name] = val;
    });
    return;
  }
  std::string base = "/" + key;
  w.entries(y, key, [&](const YNode* k, const YNode* v) {
    const std::string& name = k->value;
    std::string ictx = key + " '" + name + "' of " + ctx;
    std::string ptr = base + "/" + tok(name);
    json e = json::object();
    bool absPath = key == "directories" || key == "mounts";
    if (absPath && (name.empty() || name[0] != '/' || name.find("..") != std::string::npos))
      w.err(k, key.substr(0, key.size() - (key == "directories" ? 3 : 1)) + (key == "directories" ? "y" : "") +
                   " path '" + printable(name) + "' must be absolute");
    if ((key == "users" || key == "unix_groups") && !accountName(name))
      w.err(k, "invalid " + std::string(key == "users" ? "user" : "group") + " name '" + printable(name) + "'");
    if ((key == "commands" || key == "timers") && !validName(name))
      w.err(k, "invalid " + std::string(key == "commands" ? "command" : "timer") + " name '" + printable(name) + "'");
    if (v->isNull()) {
      if (key == "mounts" || key == "commands" || key == "timers") w.err(k, ictx + " needs a mapping");
      items[key][name] = e;
      return;
    }
    if (!w.needMap(v, name)) return;
    bool haveRun = false, haveSrc = false, haveType = false, haveCal = false;
    if (key == "directories") {
      w.fields(v, ictx,
               {{"owner", [&](const YNode* z) { e["owner"] = w.str(z, "owner").v; }},
                {"group", [&](const YNode* z) { e["group"] = w.str(z, "group").v; }},
                {"mode", [&](const YNode* z) { mode(w, z, e); }}});
    } else if (key == "unix_groups") {
      w.fields(v, ictx, {{"gid", [&](const YNode* z) { e["gid"] = w.integer(z, "gid", 0, 4294967294LL).v; }}});
    } else if (key == "users") {
      w.fields(v, ictx,
               {{"uid", [&](const YNode* z) { e["uid"] = w.integer(z, "uid", 0, 4294967294LL).v; }},
                {"shell", [&](const YNode* z) { e["shell"] = w.str(z, "shell").v; }},
                {"home", [&](const YNode* z) {
                   Str h = w.str(z, "home");
                   if (h.set && (h.v.empty() || h.v[0] != '/')) w.err(z, "'home' must be an absolute path");
                   e["home"] = h.v;
                 }},
                {"groups", [&](const YNode* z) {
                   e["groups"] = json::array();
                   for (const auto& s : w.strList(z, "groups")) e["groups"].push_back(s.v);
                 }},
                {"sudo", [&](const YNode* z) {
                   if (z->isScalar() && (z->value == "true" || z->value == "false")) e["sudo"] = w.boolean(z, "sudo").v;
                   else {
                     Str r = w.str(z, "sudo");
                     if (r.v.find('\n') != std::string::npos) w.err(z, "'sudo' must be one sudoers rule (one line)");
                     e["sudo"] = r.v;
                   }
                 }},
                {"authorized_keys", [&](const YNode* z) {
                   e["authorized_keys"] = json::array();
                   for (const auto& s : w.strOrList(z, "authorized_keys")) {
                     if (s.v.find('\n') != std::string::npos) w.err(z, "an authorized key is one line");
                     e["authorized_keys"].push_back(s.v);
                   }
                 }},
                {"state", [&](const YNode* z) {
                   Str st = w.str(z, "state");
                   if (st.set && st.v != "present" && st.v != "absent")
                     w.err(z, "user 'state' must be present or absent, got '" + st.v + "'");
                   e["state"] = st.v;
                 }}});
    } else if (key == "mounts") {
      w.fields(v, ictx,
               {{"src", [&](const YNode* z) { haveSrc = true; e["src"] = w.str(z, "src").v; }},
                {"fstype", [&](const YNode* z) { haveType = true; e["fstype"] = w.str(z, "fstype").v; }},
                {"opts", [&](const YNode* z) {
                   Str o = w.str(z, "opts");
                   if (o.v.find(' ') != std::string::npos) w.err(z, "'opts' must not contain spaces");
                   e["opts"] = o.v;
                 }},
                {"state", [&](const YNode* z) {
                   Str st = w.str(z, "state");
                   if (st.set && st.v != "mounted" && st.v != "present" && st.v != "absent")
                     w.err(z, "mount 'state' must be mounted, present or absent, got '" + st.v + "'");
                   e["state"] = st.v;
                 }}});
      if (!haveSrc) w.err(k, ictx + " is missing required key 'src'");
      if (!haveType) w.err(k, ictx + " is missing required key 'fstype'");
    } else if (key == "commands") {
      w.fields(v, ictx,
               {{"run", [&](const YNode* z) { haveRun = true; text(w, z, "run", e, g, ptr); }},
                {"creates", [&](const YNode* z) {
                   Str c = w.str(z, "creates");
                   if (c.set && (c.v.empty() || c.v[0] != '/')) w.err(z, "'creates' must be an absolute path");
                   e["creates"] = c.v;
                 }},
                {"unless", [&](const YNode* z) { text(w, z, "unless", e, g, ptr); }},
                {"user", [&](const YNode* z) { e["user"] = w.str(z, "user").v; }}});
      if (!haveRun) w.err(k, ictx + " is missing required key 'run'");
    } else if (key == "timers") {
      w.fields(v, ictx,
               {{"command", [&](const YNode* z) { haveRun = true; text(w, z, "command", e, g, ptr); }},
                {"on_calendar", [&](const YNode* z) { haveCal = true; e["on_calendar"] = w.str(z, "on_calendar").v; }},
                {"user", [&](const YNode* z) { e["user"] = w.str(z, "user").v; }},
                {"description", [&](const YNode* z) { e["description"] = w.str(z, "description").v; }},
                {"persistent", [&](const YNode* z) { e["persistent"] = w.boolean(z, "persistent").v; }},
                {"randomized_delay", [&](const YNode* z) { e["randomized_delay_s"] = w.durationS(z, "randomized_delay").v; }}});
      if (!haveRun) w.err(k, ictx + " is missing required key 'command'");
      if (!haveCal) w.err(k, ictx + " is missing required key 'on_calendar'");
    }
    items[key][name] = e;
  });
}

}  // namespace tend::spec
