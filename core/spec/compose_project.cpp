// A Compose project as `docker compose` assembles it: several files merged in order,
// `include`, `extends` (same or other file), `profiles`, `.env` interpolation; then read
// into the app through readContainer / readNamedVolumes / readNamedNetworks.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "core/spec/compose.h"
#include "core/spec/compose_env.h"
#include "core/spec/loader.h"
#include "core/spec/walker.h"

namespace tend::spec {

namespace {

namespace fs = std::filesystem;

std::string dirOf(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}

// A plain YAML key that YAML reads as a number, a boolean or null: Compose refuses it.
bool nonStringKey(const YNode* k) {
  if (k->isNull()) return true;
  if (!k->isScalar() || k->quoted) return false;
  const std::string& v = k->value;
  if (v == "true" || v == "false" || v == "True" || v == "False" || v == "TRUE" || v == "FALSE") return true;
  if (v.empty()) return false;
  size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0;
  if (i >= v.size()) return false;
  bool digit = false, dot = false;
  for (; i < v.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(v[i]))) digit = true;
    else if (v[i] == '.' && !dot) dot = true;
    else return false;
  }
  return digit;
}

struct Service {
  const YNode* key = nullptr;
  const YNode* value = nullptr;
  std::string dir;    // relative paths of this service resolve here
  std::string shown;  // file it was (first) defined in
};

struct Named {
  const YNode* key = nullptr;
  const YNode* value = nullptr;
  std::string shown;
  std::string dir;  // relative paths (a secret's file:) resolve here
};

class Project {
 public:
  Project(const std::string& specRoot, const std::string& specShown, Diagnostics& d, std::vector<std::string>& files)
      : root_(specRoot), shownRoot_(specShown), d_(d), files_(files) {}

  void load(const std::vector<Str>& refs, AppSpec& app);

 private:
  std::string root_, shownRoot_;
  Diagnostics& d_;
  std::vector<std::string>& files_;
  std::deque<YNode> arena_;
  std::vector<std::unique_ptr<YDoc>> docs_;
  std::vector<std::unique_ptr<ComposeVars>> varsKeep_;
  std::vector<std::string> order_;
  std::map<std::string, Service> services_;
  std::vector<std::string> volOrder_, netOrder_;
  std::map<std::string, Named> volumes_, networks_;
  std::vector<std::string> secOrder_, cfgOrder_;
  std::map<std::string, Named> secrets_, configs_;
  std::vector<std::string> includeStack_;

  void err(const SpecLoc& l, std::string m) { d_.push_back({Severity::Error, l, std::move(m)}); }
  void err(const std::string& file, const YNode* n, std::string m) {
    d_.push_back({Severity::Error, {file, n ? n->line : 1, n ? n->col : 1}, std::move(m)});
  }
  void warn(const std::string& file, const YNode* n, std::string m) {
    d_.push_back({Severity::Warning, {file, n ? n->line : 1, n ? n->col : 1}, std::move(m)});
  }

  std::string shownOf(const std::string& abs) const {
    std::string rel = fs::path(abs).lexically_relative(root_).string();
    if (rel.empty() || rel == ".") return shownRoot_;
    return shownRoot_ == "." ? rel : (fs::path(shownRoot_) / rel).lexically_normal().string();
  }

  // Reads, checks and interpolates one Compose file. Null (after a located error) on failure.
  const YNode* readFile(const std::string& rel, const std::string& baseDir, const SpecLoc& ref,
                        const ComposeVars& vars, std::string& absOut, std::string& shownOut) {
    // A URL or a loader scheme ("git@…", "oci://…", "remote:…"), not a Windows drive ("C:").
    size_t colon = rel.find(':');
    bool scheme = colon != std::string::npos && colon >= 2 && rel.find('/') > colon &&
                  std::all_of(rel.begin(), rel.begin() + static_cast<std::ptrdiff_t>(colon), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '.' || ch == '-';
                  });
    if (scheme || rel.find("://") != std::string::npos || rel.rfind("git@", 0) == 0) {
      err(ref, "remote Compose file '" + rel + "' is not supported: copy it into the spec directory");
      return nullptr;
    }
    SpecFile f = confinePath(root_, baseDir, rel);
    if (!f.error.empty()) {
      err(ref, "compose file '" + rel + "': " + f.error);
      return nullptr;
    }
    if (f.missing) {
      err(ref, "compose file '" + rel + "' not found");
      return nullptr;
    }
    absOut = fs::path(f.path).lexically_normal().string();
    shownOut = shownOf(absOut);
    bool missing = false;
    auto doc = readYamlFile(absOut, shownOut, d_, true, &missing);
    if (missing) {
      err(ref, "compose file '" + rel + "' not found");
      return nullptr;
    }
    if (!doc) return nullptr;
    if (std::find(files_.begin(), files_.end(), shownOut) == files_.end()) files_.push_back(shownOut);
    const YNode* r = doc->root;
    docs_.push_back(std::move(doc));
    if (!r || r->isNull()) {
      err(shownOut, nullptr, "compose file is empty");
      return nullptr;
    }
    if (!r->isMap()) {
      Walker w(shownOut, d_);
      w.typeErr(r, "compose file", "a mapping", true);
      return nullptr;
    }
    checkKeys(shownOut, r);
    return interpolateTree(r, vars, arena_, shownOut, d_);
  }

  void checkKeys(const std::string& file, const YNode* n) {
    std::vector<const YNode*> todo{n};
    std::set<const YNode*> seen;
    while (!todo.empty()) {
      const YNode* x = todo.back();
      todo.pop_back();
      if (!seen.insert(x).second) continue;
      if (x->isMap()) {
        for (const auto& [k, v] : x->pairs) {
          if (nonStringKey(k)) err(file, k, "non-string key '" + k->value + "': Compose keys are strings (quote it)");
          todo.push_back(v);
        }
      } else if (x->isSeq()) {
        for (const YNode* i : x->items) todo.push_back(i);
      }
    }
  }

  // `.env` of a directory (or an explicit env file) layered over `parent`.
  const ComposeVars* varsFor(const std::string& dir, const std::vector<Str>& envFiles, const ComposeVars* parent,
                             const SpecLoc& ref) {
    auto v = std::make_unique<ComposeVars>();
    if (parent) {
      v->fallback = [parent](const std::string& n) { return parent->get(n); };
    }
    std::vector<std::pair<Str, bool>> files;  // file, required
    if (envFiles.empty()) {
      Str s;
      s.v = ".env";
      s.loc = ref;
      files.emplace_back(s, false);
    } else {
      for (const auto& e : envFiles) files.emplace_back(e, true);
    }
    for (const auto& [f, required] : files) {
      std::string text, why;
      bool missing = false;
      if (!readComposeText(root_, dir, f.v, text, why, missing)) {
        if (missing && !required) continue;
        err(f.loc, "env file '" + f.v + "'" + (missing ? " " + why : ": " + why));
        continue;
      }
      std::vector<std::pair<std::string, std::string>> kv;
      std::string e;
      auto lookup = [](const std::string& n) -> std::optional<std::string> {
        if (const char* x = std::getenv(n.c_str())) return std::string(x);
        return std::nullopt;
      };
      if (!parseDotenv(text, lookup, kv, e)) {
        err(f.loc, "env file '" + f.v + "': " + e);
        continue;
      }
      for (auto& [k, x] : kv) v->set(k, x);
    }
    varsKeep_.push_back(std::move(v));
    return varsKeep_.back().get();
  }

  void addFile(const YNode* r, const std::string& shown, const std::string& abs, const std::string& dir,
               const ComposeVars& vars, bool included, AppSpec& app);
  // A top-level secrets:/configs: mapping: a later file's entry replaces an earlier one's
  // (Compose merges these by name; a definition has one source).
  void addNamed(Walker& w, const YNode* x, const char* key, const std::string& shown, const std::string& dir,
                std::map<std::string, Named>& into, std::vector<std::string>& order) {
    if (x->isNull()) return;
    w.entries(x, key, [&](const YNode* k, const YNode* v) {
      auto it = into.find(k->value);
      if (it == into.end()) {
        into[k->value] = Named{k, v, shown, dir};
        order.push_back(k->value);
      } else if (!v->isNull()) {
        it->second = Named{k, v, shown, dir};
      }
    });
  }
  void addInclude(const YNode* v, const std::string& shown, const std::string& dir, const ComposeVars& vars, AppSpec& app);
  const YNode* resolveExtends(const std::string& name, const YNode* svc, const std::map<std::string, const YNode*>& fileServices,
                              const std::string& shown, const std::string& dir, const ComposeVars& vars,
                              std::vector<std::string>& stack);
  const YNode* rebase(const YNode* svc, const std::string& from, const std::string& to);
  const YNode* merge(const YNode* base, const YNode* over, const std::string& key, int depth);
  const YNode* kvMap(const YNode* n);
  YNode* node(const YNode& like, YNode::Kind kind) {
    arena_.emplace_back();
    YNode* n = &arena_.back();
    n->kind = kind;
    n->line = like.line;
    n->col = like.col;
    return n;
  }
  const YNode* scalar(const YNode& like, std::string v) {
    YNode* n = node(like, YNode::Kind::Scalar);
    n->value = std::move(v);
    return n;
  }
  const ComposeVars* projectVars_ = nullptr;
  std::vector<std::deque<YNode>> subArenas_;

  std::map<std::string, const YNode*> sameFile_;  // services_ values, for extends without file:
  bool sameFileBuilt_ = false;
  const YNode* resolveAll(const std::string& name) {
    if (!sameFileBuilt_) {
      for (const auto& [n, s] : services_) sameFile_[n] = s.value;
      sameFileBuilt_ = true;
    }
    const auto& same = sameFile_;
    std::vector<std::string> stack;
    const Service& s = services_[name];
    return resolveExtends(name, s.value, same, s.shown, s.dir, *projectVars_, stack);
  }
};

// environment/labels/... as a mapping (list "K=V" entries converted), for merging by key.
const YNode* Project::kvMap(const YNode* n) {
  if (!n->isSeq()) return n;
  YNode* m = node(*n, YNode::Kind::Map);
  for (const YNode* it : n->items) {
    if (!it->isScalar()) return n;  // not a K=V list: merged as a list
    auto eq = it->value.find('=');
    const YNode* k = scalar(*it, it->value.substr(0, eq));
    const YNode* v = eq == std::string::npos ? node(*it, YNode::Kind::Null) : scalar(*it, it->value.substr(eq + 1));
    m->pairs.emplace_back(k, v);
  }
  return m;
}

// Compose's merge of `over` onto `base` (override files and extends).
const YNode* Project::merge(const YNode* base, const YNode* over, const std::string& key, int depth) {
  if (over->tag == YNode::Tag::Reset) return nullptr;
  if (over->tag == YNode::Tag::Override || !base) return over;
  static const std::set<std::string> kvKeys = {"environment", "labels", "extra_hosts", "sysctls", "annotations",
                                               "build_args", "args", "networks", "depends_on", "ulimits", "storage_opt"};
  static const std::set<std::string> replaced = {"command", "entrypoint", "test", "dns", "dns_search", "dns_opt"};
  if (depth == 1 && kvKeys.count(key)) {
    base = kvMap(base);
    over = kvMap(over);
    if (key == "networks" || key == "depends_on") {  // list of names -> mapping of name: null
      auto names = [&](const YNode* n) -> const YNode* {
        if (!n->isSeq()) return n;
        YNode* m = node(*n, YNode::Kind::Map);
        for (const YNode* it : n->items) m->pairs.emplace_back(it, node(*it, YNode::Kind::Null));
        return m;
      };
      base = names(base);
      over = names(over);
    }
  }
  if (base->isMap() && over->isMap()) {
    YNode* m = node(*base, YNode::Kind::Map);
    m->pairs = base->pairs;
    for (const auto& [k, v] : over->pairs) {
      const std::string& name = k->value;  // (clang 14 cannot capture a structured binding)
      auto it = std::find_if(m->pairs.begin(), m->pairs.end(), [&](auto& p) { return p.first->value == name; });
      if (it == m->pairs.end()) {
        if (v->tag != YNode::Tag::Reset) m->pairs.emplace_back(k, v);
        continue;
      }
      const YNode* mv = merge(it->second, v, k->value, depth + 1);
      if (!mv) m->pairs.erase(it);
      else it->second = mv;
    }
    return m;
  }
  if (base->isSeq() && over->isSeq() && !replaced.count(key)) {
    YNode* s = node(*base, YNode::Kind::Seq);
    s->items = base->items;
    if (key == "volumes" && depth == 1) {  // by target: the override's mount replaces the base's
      auto targetOf = [](const YNode* v) -> std::string {
        if (v->isScalar()) {
          auto parts = splitColons(v->value);
          return parts.size() >= 2 ? parts[1] : parts[0];
        }
        if (v->isMap())
          for (const auto& [k, x] : v->pairs)
            if (k->value == "target") return x->value;
        return "";
      };
      for (const YNode* o : over->items) {
        std::string t = targetOf(o);
        auto it = std::find_if(s->items.begin(), s->items.end(), [&](const YNode* b) { return !t.empty() && targetOf(b) == t; });
        if (it != s->items.end()) *it = o;
        else s->items.push_back(o);
      }
      return s;
    }
    for (const YNode* o : over->items) {
      bool dup = o->isScalar() && std::any_of(s->items.begin(), s->items.end(), [&](const YNode* b) {
                   return b->isScalar() && b->value == o->value;
                 });
      if (!dup) s->items.push_back(o);
    }
    return s;
  }
  return over;
}

// Relative paths of a service taken from another directory (extends: file:), made relative
// to the extending service's directory.
const YNode* Project::rebase(const YNode* svc, const std::string& from, const std::string& to) {
  if (from == to || !svc->isMap()) return svc;
  auto re = [&](const std::string& p) -> std::string {
    if (p.empty() || p[0] == '/' || p[0] == '~' || p.find("://") != std::string::npos) return p;
    std::string r = fs::path(joinPath(from, p)).lexically_normal().lexically_relative(to).string();
    if (r.empty()) return ".";
    return r[0] == '.' ? r : "./" + r;
  };
  YNode* m = node(*svc, YNode::Kind::Map);
  for (const auto& [k, v] : svc->pairs) {
    const YNode* nv = v;
    if ((k->value == "env_file" || k->value == "label_file") && (v->isScalar() || v->isSeq())) {
      auto one = [&](const YNode* x) -> const YNode* {
        if (x->isScalar()) return scalar(*x, re(x->value));
        if (x->isMap()) {
          YNode* e = node(*x, YNode::Kind::Map);
          for (const auto& [ek, ev] : x->pairs) e->pairs.emplace_back(ek, ek->value == "path" && ev->isScalar() ? scalar(*ev, re(ev->value)) : ev);
          return e;
        }
        return x;
      };
      if (v->isScalar()) {
        nv = one(v);
      } else {
        YNode* s = node(*v, YNode::Kind::Seq);
        for (const YNode* x : v->items) s->items.push_back(one(x));
        nv = s;
      }
    } else if (k->value == "volumes" && v->isSeq()) {
      YNode* s = node(*v, YNode::Kind::Seq);
      for (const YNode* x : v->items) {
        if (x->isScalar()) {
          auto parts = splitColons(x->value);
          if (parts.size() >= 2 && !parts[0].empty() && parts[0][0] == '.') {
            std::string nvs = re(parts[0]);
            for (size_t i = 1; i < parts.size(); ++i) nvs += ":" + parts[i];
            s->items.push_back(scalar(*x, nvs));
            continue;
          }
        } else if (x->isMap()) {
          bool bind = false;
          for (const auto& [ek, ev] : x->pairs) bind |= ek->value == "type" && ev->value == "bind";
          if (bind) {
            YNode* e = node(*x, YNode::Kind::Map);
            for (const auto& [ek, ev] : x->pairs)
              e->pairs.emplace_back(ek, ek->value == "source" && ev->isScalar() ? scalar(*ev, re(ev->value)) : ev);
            s->items.push_back(e);
            continue;
          }
        }
        s->items.push_back(x);
      }
      nv = s;
    } else if (k->value == "build") {
      if (v->isScalar()) {
        nv = scalar(*v, re(v->value));
      } else if (v->isMap()) {
        YNode* e = node(*v, YNode::Kind::Map);
        for (const auto& [ek, ev] : v->pairs)
          e->pairs.emplace_back(ek, ek->value == "context" && ev->isScalar() ? scalar(*ev, re(ev->value)) : ev);
        nv = e;
      }
    }
    m->pairs.emplace_back(k, nv);
  }
  return m;
}

const YNode* Project::resolveExtends(const std::string& name, const YNode* svc,
                                     const std::map<std::string, const YNode*>& fileServices, const std::string& shown,
                                     const std::string& dir, const ComposeVars& vars, std::vector<std::string>& stack) {
  if (!svc->isMap()) return svc;
  const YNode* ext = nullptr;
  for (const auto& [k, v] : svc->pairs)
    if (k->value == "extends") ext = v;
  if (!ext) return svc;
  std::string id = shown + "#" + name;
  if (std::find(stack.begin(), stack.end(), id) != stack.end()) {
    std::string msg = "extends cycle: ";
    for (const auto& s : stack) msg += s + " -> ";
    err(shown, ext, msg + id);
    return nullptr;
  }
  stack.push_back(id);
  Walker w(shown, d_);
  Str target, file;
  if (ext->isScalar()) {
    target = w.str(ext, "extends");
  } else if (w.needMap(ext, "extends")) {
    w.fields(ext, "extends of service '" + name + "'",
             {{"service", [&](const YNode* x) { target = w.str(x, "service"); }},
              {"file", [&](const YNode* x) { file = w.str(x, "file"); }}});
  }
  if (!target.set) {
    if (ext->isMap()) err(shown, ext, "extends of service '" + name + "' is missing required key 'service'");
    stack.pop_back();
    return nullptr;
  }
  const YNode* base = nullptr;
  std::string baseDir = dir, baseShown = shown;
  std::map<std::string, const YNode*> otherServices;
  const std::map<std::string, const YNode*>* inFile = &fileServices;
  if (file.set) {
    std::string abs;
    const YNode* r = readFile(file.v, dir, file.loc, vars, abs, baseShown);
    if (!r) {
      stack.pop_back();
      return nullptr;
    }
    baseDir = dirOf(abs);
    for (const auto& [k, v] : r->pairs)
      if (k->value == "services" && v->isMap())
        for (const auto& [sk, sv] : v->pairs) otherServices[sk->value] = sv;
    inFile = &otherServices;
  }
  auto it = inFile->find(target.v);
  if (it == inFile->end()) {
    err(target.loc, "service '" + name + "' extends unknown service '" + target.v + "'" +
                        (file.set ? " in '" + file.v + "'" : ""));
    stack.pop_back();
    return nullptr;
  }
  base = resolveExtends(target.v, it->second, *inFile, baseShown, baseDir, vars, stack);
  stack.pop_back();
  if (!base) return nullptr;
  base = rebase(base, baseDir, dir);
  YNode* own = node(*svc, YNode::Kind::Map);
  for (const auto& [k, v] : svc->pairs)
    if (k->value != "extends") own->pairs.emplace_back(k, v);
  // Compose: depends_on is not inherited by extends.
  YNode* b = node(*base, YNode::Kind::Map);
  for (const auto& [k, v] : base->pairs)
    if (k->value != "depends_on") b->pairs.emplace_back(k, v);
  return merge(b, own, "", 0);
}

void Project::addInclude(const YNode* v, const std::string& shown, const std::string& dir, const ComposeVars& vars,
                         AppSpec& app) {
  Walker w(shown, d_);
  if (!w.needSeq(v, "include")) return;
  for (const YNode* it : v->items) {
    std::vector<Str> paths, envFiles;
    Str projectDir;
    if (it->isScalar()) {
      paths.push_back(w.str(it, "include entry"));
    } else if (w.needMap(it, "include entry")) {
      w.fields(it, "include entry",
               {{"path", [&](const YNode* x) { paths = w.strOrList(x, "path"); }},
                {"project_directory", [&](const YNode* x) { projectDir = w.str(x, "project_directory"); }},
                {"env_file", [&](const YNode* x) { envFiles = w.strOrList(x, "env_file"); }}});
      if (paths.empty()) err(shown, it, "include entry is missing required key 'path'");
    }
    if (paths.empty()) continue;
    std::string abs, incShown;
    // The first path is the included project's main file; the others override it.
    const YNode* r = readFile(paths[0].v, dir, paths[0].loc, vars, abs, incShown);
    if (!r) continue;
    if (std::find(includeStack_.begin(), includeStack_.end(), abs) != includeStack_.end()) {
      err(paths[0].loc, "include cycle: '" + paths[0].v + "' is already being included");
      continue;
    }
    std::string pdir = dirOf(abs);
    if (projectDir.set) {
      SpecFile pf = confinePath(root_, dir, projectDir.v);
      if (!pf.error.empty()) {
        err(projectDir.loc, "project_directory '" + projectDir.v + "': " + pf.error);
        continue;
      }
      pdir = fs::path(pf.path).lexically_normal().string();
    }
    const ComposeVars* iv = varsFor(pdir, envFiles, &vars, paths[0].loc);
    // Interpolated with the parent's variables above; re-read with its own when they differ.
    if (!iv->own().empty()) r = readFile(paths[0].v, dir, paths[0].loc, *iv, abs, incShown);
    if (!r) continue;
    includeStack_.push_back(abs);
    Project sub(root_, shownRoot_, d_, files_);
    sub.includeStack_ = includeStack_;
    sub.projectVars_ = iv;
    AppSpec subApp;
    subApp.name = app.name;
    subApp.profiles = app.profiles;
    sub.addFile(r, incShown, abs, pdir, *iv, true, subApp);
    for (size_t i = 1; i < paths.size(); ++i) {
      std::string a2, s2;
      const YNode* r2 = sub.readFile(paths[i].v, dir, paths[i].loc, *iv, a2, s2);
      if (r2) sub.addFile(r2, s2, a2, pdir, *iv, true, subApp);
    }
    includeStack_.pop_back();
    // Its resources join this project; a name defined on both sides is a conflict.
    for (const auto& name : sub.order_) {
      const Service& s = sub.services_[name];
      if (services_.count(name)) {
        err(s.shown, s.key, "service '" + name + "' of included file conflicts with one defined at " +
                                 SpecLoc{services_[name].shown, services_[name].key->line, services_[name].key->col}.str());
        continue;
      }
      const YNode* resolved = sub.resolveAll(name);
      if (!resolved) continue;
      Service ns = s;
      ns.value = resolved;
      services_[name] = ns;
      order_.push_back(name);
    }
    for (const auto& n : sub.volOrder_)
      if (!volumes_.count(n)) volumes_[n] = sub.volumes_[n], volOrder_.push_back(n);
    for (const auto& n : sub.netOrder_)
      if (!networks_.count(n)) networks_[n] = sub.networks_[n], netOrder_.push_back(n);
    for (const auto& n : sub.secOrder_)
      if (!secrets_.count(n)) secrets_[n] = sub.secrets_[n], secOrder_.push_back(n);
    for (const auto& n : sub.cfgOrder_)
      if (!configs_.count(n)) configs_[n] = sub.configs_[n], cfgOrder_.push_back(n);
    // Keep the sub-project's nodes alive.
    for (auto& dd : sub.docs_) docs_.push_back(std::move(dd));
    for (auto& vv : sub.varsKeep_) varsKeep_.push_back(std::move(vv));
    subArenas_.push_back(std::move(sub.arena_));  // a moved deque keeps its nodes where they are
    for (auto& a : sub.subArenas_) subArenas_.push_back(std::move(a));
  }
}

void Project::addFile(const YNode* r, const std::string& shown, const std::string& abs, const std::string& dir,
                      const ComposeVars& vars, bool included, AppSpec& app) {
  (void)app;
  includeStack_.push_back(abs);
  Walker w(shown, d_);
  w.composeExtensions(true);
  bool sawServices = false;
  // include first: the including file's own definitions are checked against what it imports.
  for (const auto& [k, v] : r->pairs)
    if (k->value == "include") addInclude(v, shown, dir, vars, app);
  w.fields(
      r, "compose file",
      {{"include", [&](const YNode*) {}},
       {"services", [&](const YNode* x) {
          sawServices = true;
          if (x->isNull()) return;
          w.entries(x, "services", [&](const YNode* k, const YNode* v) {
            auto it = services_.find(k->value);
            if (it == services_.end()) {
              if (v->tag == YNode::Tag::Reset) return;
              services_[k->value] = Service{k, v, dir, shown};
              order_.push_back(k->value);
              return;
            }
            const YNode* m = merge(it->second.value, v, "", 0);
            if (!m) {  // !reset of a whole service
              services_.erase(it);
              order_.erase(std::find(order_.begin(), order_.end(), k->value));
              return;
            }
            it->second.value = m;
          });
        }},
       {"volumes", [&](const YNode* x) {
          if (x->isNull()) return;
          w.entries(x, "volumes", [&](const YNode* k, const YNode* v) {
            auto it = volumes_.find(k->value);
            if (it == volumes_.end()) {
              volumes_[k->value] = Named{k, v, shown, dir};
              volOrder_.push_back(k->value);
            } else if (it->second.value->isMap() && v->isMap()) {
              it->second.value = merge(it->second.value, v, "", 2);
            } else if (!v->isNull()) {
              it->second.value = v;
            }
          });
        }},
       {"networks", [&](const YNode* x) {
          if (x->isNull()) return;
          w.entries(x, "networks", [&](const YNode* k, const YNode* v) {
            auto it = networks_.find(k->value);
            if (it == networks_.end()) {
              networks_[k->value] = Named{k, v, shown, dir};
              netOrder_.push_back(k->value);
            } else if (it->second.value->isMap() && v->isMap()) {
              it->second.value = merge(it->second.value, v, "", 2);
            } else if (!v->isNull()) {
              it->second.value = v;
            }
          });
        }},
       {"version", [&](const YNode* x) { w.warn(x, "'version' is obsolete in Compose files and ignored"); }},
       {"name", [&](const YNode* x) {
          Str n = w.str(x, "name");
          if (n.set && n.v != app.name && !included)
            w.warn(x, "Compose project name '" + n.v + "' is not used: the project name is the app name '" + app.name + "'");
        }},
       {"secrets", [&](const YNode* x) { addNamed(w, x, "secrets", shown, dir, secrets_, secOrder_); }},
       {"configs", [&](const YNode* x) { addNamed(w, x, "configs", shown, dir, configs_, cfgOrder_); }},
       {"models", [&](const YNode* x) { w.err(x, "top-level 'models' (Docker Model Runner) are not supported by tend"); }}},
      [&](const YNode* k, const YNode*) { return k->value.rfind("x-", 0) == 0; });
  (void)sawServices;
  includeStack_.pop_back();
}

void Project::load(const std::vector<Str>& refs, AppSpec& app) {
  if (refs.empty()) return;
  size_t errorsBefore = 0;
  for (const auto& dd : d_) errorsBefore += dd.severity == Severity::Error;
  // The project directory is the first file's; its .env gives the variables of every file.
  SpecFile first = confinePath(root_, root_, refs[0].v);
  if (!first.error.empty()) {
    err(refs[0].loc, "compose file '" + refs[0].v + "': " + first.error);
    return;
  }
  std::string projectDir = dirOf(fs::path(first.path).lexically_normal().string());
  projectVars_ = varsFor(projectDir, {}, nullptr, refs[0].loc);
  bool any = false;
  for (const auto& ref : refs) {
    std::string abs, shown;
    const YNode* r = readFile(ref.v, root_, ref.loc, *projectVars_, abs, shown);
    if (!r) continue;
    any = true;
    addFile(r, shown, abs, projectDir, *projectVars_, false, app);
  }
  if (!any) return;
  if (order_.empty()) {
    size_t errorsNow = 0;
    for (const auto& dd : d_) errorsNow += dd.severity == Severity::Error;
    if (errorsNow == errorsBefore) err(refs[0].loc, "compose file '" + refs[0].v + "' has no 'services'");
  }
  // extends, then profiles, then read.
  std::map<std::string, const YNode*> resolved;
  for (const auto& name : order_) {
    const YNode* r = resolveAll(name);
    if (r) resolved[name] = r;
  }
  std::set<std::string> enabled(app.profiles.size() ? std::set<std::string>{} : std::set<std::string>{});
  for (const auto& p : app.profiles) enabled.insert(p.v);
  app.containers.reserve(app.containers.size() + order_.size());
  for (const auto& name : order_) {
    auto it = resolved.find(name);
    if (it == resolved.end()) continue;
    const Service& s = services_[name];
    Walker w(s.shown, d_);
    w.composeExtensions(true);
    ContainerSpec c;
    readContainer(w, s.key, it->second, s.dir, root_, c, projectVars_);
    if (!c.profiles.empty() && !enabled.count("*") &&
        std::none_of(c.profiles.begin(), c.profiles.end(), [&](const Str& p) { return enabled.count(p.v) > 0; }))
      continue;  // a service of a profile the app does not enable
    app.containers.push_back(std::move(c));
  }
  for (const auto& n : volOrder_) {
    const Named& v = volumes_[n];
    Walker w(v.shown, d_);
    w.composeExtensions(true);
    YNode wrap;
    wrap.kind = YNode::Kind::Map;
    wrap.pairs.emplace_back(v.key, v.value);
    readNamedVolumes(w, &wrap, app.volumes);
  }
  for (const auto& n : netOrder_) {
    const Named& v = networks_[n];
    Walker w(v.shown, d_);
    w.composeExtensions(true);
    YNode wrap;
    wrap.kind = YNode::Kind::Map;
    wrap.pairs.emplace_back(v.key, v.value);
    readNamedNetworks(w, &wrap, app.networks);
  }
  std::error_code ec;
  std::string dotenv = (fs::path(projectDir) / ".env").string();
  if (!fs::is_regular_file(dotenv, ec)) dotenv.clear();
  for (int secret = 1; secret >= 0; --secret) {
    auto& names = secret ? secOrder_ : cfgOrder_;
    auto& defs = secret ? secrets_ : configs_;
    for (const auto& n : names) {
      const Named& v = defs[n];
      Walker w(v.shown, d_);
      w.composeExtensions(true);
      YNode wrap;
      wrap.kind = YNode::Kind::Map;
      wrap.pairs.emplace_back(v.key, v.value);
      readFileObjects(w, &wrap, secret == 1, v.dir, root_, projectVars_, dotenv, secret ? app.secrets : app.configs);
    }
  }
}

}  // namespace

void readComposeProject(const std::vector<Str>& files, const std::string& specRoot, const std::string& specShown,
                        AppSpec& app, Diagnostics& diags, std::vector<std::string>& shownFiles) {
  Project p(specRoot, specShown, diags, shownFiles);
  p.load(files, app);
}

}  // namespace tend::spec
