#include "providers/docker/policy.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <tuple>

#include "core/spec/walker.h"
#include "core/spec/ytree.h"

namespace tend::docker {
namespace {
using nlohmann::json;

// "/a/b/../c/" -> "/a/c". Lexical only: the source may be on another machine (a remote
// Docker host), where this process cannot resolve symlinks.
std::string normalPath(const std::string& p) {
  std::string n = std::filesystem::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// `path` is `dir` or lies below it.
bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

std::string capName(std::string c) {
  for (auto& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (c.rfind("CAP_", 0) == 0) c = c.substr(4);
  return c;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ContainerPolicy defaultContainerPolicy(const std::vector<std::string>& ownPaths) {
  ContainerPolicy p;
  p.bindDeny = {"/", "/var/run/docker.sock", "/run/docker.sock", "/etc/tend", "/var/lib/tend"};
  for (const auto& o : ownPaths) {
    if (o.empty() || o[0] != '/') continue;
    std::string n = normalPath(o);
    if (std::find(p.bindDeny.begin(), p.bindDeny.end(), n) == p.bindDeny.end()) p.bindDeny.push_back(n);
  }
  return p;
}

PolicyLoad loadContainerPolicy(const std::string& path, const ContainerPolicy& defaults) {
  PolicyLoad out;
  auto doc = spec::readYamlFile(path, path, out.diagnostics, false);
  if (!doc) {
    if (out.diagnostics.empty()) out.diagnostics.push_back({Severity::Error, {path, 0, 0}, "cannot read the policy file"});
    return out;
  }
  ContainerPolicy p = defaults;
  p.origin = "policy " + path;
  if (!doc->root) {
    out.policy = p;  // an empty file: the defaults
    return out;
  }
  spec::Walker w(path, out.diagnostics);
  // A list of paths or names, or the word "any".
  auto listOrAny = [&](const spec::YNode* v, const char* key, bool paths) -> std::optional<std::vector<std::string>> {
    if (v->isScalar() && v->value == "any") return std::nullopt;
    std::vector<std::string> r;
    for (const auto& s : w.strList(v, key)) {
      if (paths && (s.v.empty() || s.v[0] != '/')) {
        out.diagnostics.push_back({Severity::Error, s.loc, std::string(key) + ": '" + s.v + "' is not an absolute path"});
        continue;
      }
      r.push_back(paths ? normalPath(s.v) : s.v);
    }
    return r;
  };
  if (!w.needMap(doc->root, "policy")) return out;
  w.fields(doc->root, "the policy file",
           {{"containers", [&](const spec::YNode* c) {
              if (!w.needMap(c, "containers")) return;
              w.fields(c, "containers",
                       {{"privileged", [&](const spec::YNode* v) { p.privileged = w.boolean(v, "privileged").v; }},
                        {"host_network", [&](const spec::YNode* v) { p.hostNetwork = w.boolean(v, "host_network").v; }},
                        {"capabilities", [&](const spec::YNode* v) {
                           p.capabilities = listOrAny(v, "capabilities", false);
                           if (p.capabilities)
                             for (auto& cap : *p.capabilities) cap = capName(cap);
                         }},
                        {"devices", [&](const spec::YNode* v) { p.devices = listOrAny(v, "devices", true); }},
                        {"bind_mounts", [&](const spec::YNode* b) {
                           if (!w.needMap(b, "bind_mounts")) return;
                           w.fields(b, "bind_mounts",
                                    {{"allow", [&](const spec::YNode* v) { p.bindAllow = listOrAny(v, "allow", true); }},
                                     {"deny", [&](const spec::YNode* v) {
                                        p.bindDeny.clear();
                                        for (const auto& s : w.strList(v, "deny")) {
                                          if (s.v.empty() || s.v[0] != '/')
                                            out.diagnostics.push_back({Severity::Error, s.loc, "deny: '" + s.v + "' is not an absolute path"});
                                          else
                                            p.bindDeny.push_back(normalPath(s.v));
                                        }
                                      }}});
                         }}});
            }}});
  if (!hasErrors(out.diagnostics)) out.policy = std::move(p);
  return out;
}

Diagnostics checkContainerPolicy(const DesiredGraph& g, const ContainerPolicy& p) {
  Diagnostics out;
  for (const auto& r : g.resources) {
    if (r.kind != "container" || r.provider != "docker" || !r.spec.is_object()) continue;
    const json& s = r.spec;
    auto refuse = [&](const std::string& field, const std::string& what) {
      out.push_back({Severity::Error, r.locOf(field),
                     r.id + ": " + what + " is refused by " + p.origin +
                         " (tendd/tendctl --policy FILE decides what containers may do)"});
    };
    if (!p.privileged && s.value("privileged", false)) refuse("privileged", "a privileged container");
    if (!p.hostNetwork && str(s, "network_mode") == "host") refuse("network_mode", "network_mode: host");
    if (auto caps = s.find("cap_add"); p.capabilities && caps != s.end() && caps->is_array()) {
      for (size_t i = 0; i < caps->size(); ++i) {
        if (!(*caps)[i].is_string()) continue;
        std::string c = capName((*caps)[i].get<std::string>());
        if (std::find(p.capabilities->begin(), p.capabilities->end(), c) == p.capabilities->end())
          refuse("cap_add/" + std::to_string(i), "capability " + c);
      }
    }
    if (auto devs = s.find("devices"); p.devices && devs != s.end() && devs->is_array()) {
      for (size_t i = 0; i < devs->size(); ++i) {
        if (!(*devs)[i].is_string()) continue;
        std::string d = (*devs)[i].get<std::string>();
        std::string hostPath = normalPath(d.substr(0, d.find(':')));
        bool ok = std::any_of(p.devices->begin(), p.devices->end(), [&](const std::string& a) { return under(hostPath, a); });
        if (!ok) refuse("devices/" + std::to_string(i), "device " + hostPath);
      }
    }
    auto vols = s.find("volumes");
    if (vols == s.end() || !vols->is_array()) continue;
    for (size_t i = 0; i < vols->size(); ++i) {
      const json& v = (*vols)[i];
      if (!v.is_object() || str(v, "type") != "bind") continue;
      const std::string raw = str(v, "source");
      const std::string field = "volumes/" + std::to_string(i);
      if (raw.empty() || raw[0] != '/') continue;  // Docker refuses relative binds itself
      const std::string src = normalPath(raw);
      if (p.bindAllow &&
          !std::any_of(p.bindAllow->begin(), p.bindAllow->end(), [&](const std::string& a) { return under(src, a); })) {
        refuse(field, "bind mount of " + src + " (outside the allowed sources)");
        continue;
      }
      for (const auto& d : p.bindDeny) {
        // "/" protects the root itself; any other entry its whole tree, and the directories
        // above it (mounting /run hands over /run/docker.sock).
        bool hit = d == "/" ? src == "/" : under(src, d) || under(d, src);
        if (!hit) continue;
        if (src == "/")
          refuse(field, "bind mount of / (the host's root filesystem)");
        else if (src == d)
          refuse(field, "bind mount of " + src);
        else
          refuse(field, "bind mount of " + src + (under(src, d) ? " (inside " : " (it contains ") + d + ")");
        break;
      }
    }
  }
  return out;
}

void enforceContainerPolicy(LoadResult& r, const ContainerPolicy& p) {
  if (!r.ok()) return;
  Diagnostics refused = checkContainerPolicy(*r.graph, p);
  if (refused.empty()) return;
  r.diagnostics.insert(r.diagnostics.end(), refused.begin(), refused.end());
  std::stable_sort(r.diagnostics.begin(), r.diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.loc.file, a.loc.line, a.loc.col) < std::tie(b.loc.file, b.loc.line, b.loc.col);
  });
  r.graph.reset();
  r.spec.reset();
}

void enforcePolicyFile(LoadResult& r, const std::string& policyFile, const ContainerPolicy& defaults) {
  if (!r.ok()) return;
  if (policyFile.empty()) return enforceContainerPolicy(r, defaults);
  auto pl = loadContainerPolicy(policyFile, defaults);
  if (!pl.policy) {
    r.diagnostics.insert(r.diagnostics.end(), pl.diagnostics.begin(), pl.diagnostics.end());
    r.graph.reset();
    r.spec.reset();
    return;
  }
  enforceContainerPolicy(r, *pl.policy);
}

}  // namespace tend::docker
