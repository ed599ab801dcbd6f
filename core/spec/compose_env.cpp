#include "core/spec/compose_env.h"

#include <cctype>
#include <cstdlib>
#include <unordered_map>

namespace tend::spec {

std::optional<std::string> ComposeVars::get(const std::string& name) const {
  if (useProcessEnv) {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
  }
  auto it = vars_.find(name);
  if (it != vars_.end()) return it->second;
  if (fallback) return fallback(name);
  return std::nullopt;
}

namespace {

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// tend's references inside ${...}: not Compose syntax (a '.' or "secret:NAME").
bool isTendReference(const std::string& body) {
  if (body.rfind("secret:", 0) == 0) return body.size() > 7 && body[7] != '-' && body[7] != '?' && body[7] != '+';
  for (const char* p : {"environment.", "vms.", "hosts.", "app."})
    if (body.rfind(p, 0) == 0) return true;
  return false;
}

struct Interp {
  const ComposeVars& vars;
  std::vector<std::string>* unset;
  bool escape;
  std::string err;

  void lit(std::string& out, char c) const {
    out += c;
    if (c == '$' && escape) out += '$';
  }
  void lits(std::string& out, const std::string& s) const {
    for (char c : s) lit(out, c);
  }

  // Index of the '}' closing the '{' at `open`, counting nested braces; npos when none.
  static size_t closing(const std::string& s, size_t open) {
    int depth = 0;
    for (size_t i = open; i < s.size(); ++i) {
      if (s[i] == '{') depth++;
      else if (s[i] == '}' && --depth == 0) return i;
    }
    return std::string::npos;
  }

  bool run(const std::string& s, std::string& out) {
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c != '$' || i + 1 >= s.size()) {
        out += c;  // literal text of the template itself: tend's pass reads it as written
        continue;
      }
      char n = s[i + 1];
      if (n == '$') {
        lit(out, '$');
        ++i;
        continue;
      }
      if (isNameStart(n)) {
        size_t e = i + 1;
        while (e < s.size() && isNameChar(s[e])) ++e;
        std::string name = s.substr(i + 1, e - i - 1);
        auto v = vars.get(name);
        if (!v) {
          if (unset) unset->push_back(name);
        } else {
          lits(out, *v);
        }
        i = e - 1;
        continue;
      }
      if (n != '{') {
        out += c;  // "$1", "$ ": not a template, kept literally (Compose does the same)
        continue;
      }
      size_t close = closing(s, i + 1);
      if (close == std::string::npos) {
        err = "invalid interpolation format in '" + s + "': unterminated '${'";
        return false;
      }
      std::string body = s.substr(i + 2, close - i - 2);
      i = close;
      if (isTendReference(body)) {
        out += "${" + body + "}";
        continue;
      }
      if (!braced(s, body, out)) return false;
    }
    return true;
  }

  bool braced(const std::string& whole, const std::string& body, std::string& out) {
    size_t e = 0;
    if (body.empty() || !isNameStart(body[0])) {
      err = "invalid interpolation format in '" + whole + "': '${" + body + "}' (a variable name is [A-Za-z_][A-Za-z0-9_]*)";
      return false;
    }
    while (e < body.size() && isNameChar(body[e])) ++e;
    std::string name = body.substr(0, e);
    std::string op, arg;
    if (e < body.size()) {
      size_t p = e;
      bool colon = body[p] == ':';
      if (colon) ++p;
      if (p >= body.size() || (body[p] != '-' && body[p] != '?' && body[p] != '+')) {
        err = "invalid interpolation format in '" + whole + "': '${" + body + "}'";
        return false;
      }
      op = std::string(colon ? ":" : "") + body[p];
      arg = body.substr(p + 1);
    }
    auto v = vars.get(name);
    bool set = v.has_value(), nonEmpty = set && !v->empty();
    if (op.empty()) {
      if (!set && unset) unset->push_back(name);
      if (set) lits(out, *v);
      return true;
    }
    if (op == ":-" || op == "-") {
      if (op == ":-" ? nonEmpty : set) lits(out, *v);
      else return run(arg, out);
      return true;
    }
    if (op == ":+" || op == "+") {
      if (op == ":+" ? nonEmpty : set) return run(arg, out);
      return true;
    }
    // :? and ?
    if (op == ":?" ? nonEmpty : set) {
      lits(out, *v);
      return true;
    }
    std::string msg;
    Interp inner{vars, nullptr, false, {}};
    inner.run(arg, msg);
    err = "required variable " + name + " is missing a value" + (msg.empty() ? "" : ": " + msg);
    return false;
  }
};

}  // namespace

bool interpolateCompose(const std::string& in, const ComposeVars& vars, std::string& out, std::string& err,
                        std::vector<std::string>* unset, bool escapeForSpec) {
  out.clear();
  if (in.find('$') == std::string::npos) {
    out = in;
    return true;
  }
  Interp ip{vars, unset, escapeForSpec, {}};
  if (!ip.run(in, out)) {
    err = ip.err;
    return false;
  }
  return true;
}

bool parseDotenv(const std::string& text, const std::function<std::optional<std::string>(const std::string&)>& lookup,
                 std::vector<std::pair<std::string, std::string>>& out, std::string& err) {
  // Variables of the file itself are visible to later lines, then `lookup`.
  std::map<std::string, std::string> seen;
  auto resolve = [&](const std::string& v, std::string& res) -> bool {
    // ${VAR} in a value: the lookup (the environment), then earlier keys of this file.
    ComposeVars vs;
    vs.useProcessEnv = false;
    vs.fallback = [&](const std::string& n) -> std::optional<std::string> {
      if (lookup)
        if (auto lv = lookup(n)) return lv;
      auto it = seen.find(n);
      if (it != seen.end()) return it->second;
      return std::nullopt;
    };
    std::string ierr;
    if (!interpolateCompose(v, vs, res, ierr, nullptr, false)) {
      err = ierr;
      return false;
    }
    return true;
  };
  size_t i = 0;
  int line = 1;
  auto fail = [&](const std::string& m) {
    err = "line " + std::to_string(line) + ": " + m;
    return false;
  };
  while (i < text.size()) {
    // Statement start: skip whitespace (counting lines) and comment lines.
    while (i < text.size() && (isBlank(text[i]) || text[i] == '\n')) {
      if (text[i] == '\n') ++line;
      ++i;
    }
    if (i >= text.size()) break;
    if (text[i] == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (text.compare(i, 6, "export") == 0 && i + 6 < text.size() && isBlank(text[i + 6])) {
      i += 6;
      while (i < text.size() && isBlank(text[i])) ++i;
    }
    size_t ks = i;
    char term = 0;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '=' || c == ':' || c == '\n') {
        term = c;
        break;
      }
      if (isBlank(c) || isNameChar(c) || c == '.' || c == '-') continue;
      std::string shown = std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c));
      return fail("unexpected character '" + shown + "' in variable name");
    }
    std::string key = text.substr(ks, i - ks);
    while (!key.empty() && isBlank(key.back())) key.pop_back();
    if (key.empty()) return fail("missing variable name");
    if (key.find_first_of(" \t") != std::string::npos) return fail("variable name '" + key + "' contains a space");
    if (term == 0 || term == '\n') {  // bare KEY: inherited from the environment, else unset
      if (auto lv = lookup ? lookup(key) : std::nullopt) {
        out.emplace_back(key, *lv);
        seen[key] = *lv;
      }
      continue;
    }
    ++i;  // past '=' or ':'
    while (i < text.size() && isBlank(text[i])) ++i;
    std::string value;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
      char q = text[i++];
      size_t vs = i;
      std::string raw;
      bool closed = false;
      for (; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\' && q == '"' && i + 1 < text.size()) {
          raw += c;
          raw += text[++i];
          continue;
        }
        if (c == q) {
          closed = true;
          break;
        }
        raw += c;
      }
      if (!closed) return fail("unterminated quoted value");
      for (size_t k = vs; k < i; ++k)
        if (text[k] == '\n') ++line;
      ++i;  // past the closing quote; the rest of the line is ignored (a comment)
      while (i < text.size() && text[i] != '\n') ++i;
      if (q == '\'') {
        value = raw;
      } else {
        std::string un;
        for (size_t k = 0; k < raw.size(); ++k) {
          if (raw[k] == '\\' && k + 1 < raw.size()) {
            char e = raw[++k];
            if (e == 'n') un += '\n';
            else if (e == 'r') un += '\r';
            else if (e == 't') un += '\t';
            else if (e == '$') un += "$$";  // stays a literal '$' through interpolation
            else un += e;
          } else {
            un += raw[k];
          }
        }
        if (!resolve(un, value)) return fail(err);
      }
    } else {
      size_t e = text.find('\n', i);
      std::string raw = text.substr(i, e == std::string::npos ? std::string::npos : e - i);
      i = e == std::string::npos ? text.size() : e;
      // An inline comment starts at " #" (a '#' inside a word is part of the value).
      size_t hash = raw.find(" #");
      if (hash == std::string::npos) hash = raw.find("\t#");
      if (hash != std::string::npos) raw = raw.substr(0, hash);
      while (!raw.empty() && isBlank(raw.back())) raw.pop_back();
      if (!resolve(raw, value)) return fail(err);
    }
    out.emplace_back(key, value);
    seen[key] = value;
  }
  return true;
}

namespace {

struct TreeInterp {
  const ComposeVars& vars;
  std::deque<YNode>& arena;
  const std::string& file;
  Diagnostics& diags;
  std::unordered_map<const YNode*, const YNode*> memo;

  const YNode* walk(const YNode* n) {
    if (!n) return n;
    auto m = memo.find(n);
    if (m != memo.end()) return m->second;
    const YNode* r = n;
    if (n->isScalar()) {
      if (n->value.find('$') != std::string::npos) {
        std::string out, err;
        std::vector<std::string> unset;
        if (!interpolateCompose(n->value, vars, out, err, &unset)) {
          diags.push_back({Severity::Error, {file, n->line, n->col}, err});
        } else {
          for (const auto& u : unset)
            diags.push_back({Severity::Warning, {file, n->line, n->col},
                             "variable '" + u + "' is not set: defaulting to a blank string"});
          if (out != n->value) {
            arena.push_back(*n);
            arena.back().value = std::move(out);
            r = &arena.back();
          }
        }
      }
    } else if (n->isSeq()) {
      std::vector<const YNode*> items;
      bool changed = false;
      items.reserve(n->items.size());
      for (const YNode* it : n->items) {
        items.push_back(walk(it));
        changed |= items.back() != it;
      }
      if (changed) {
        YNode copy;
        copy.kind = n->kind;
        copy.line = n->line;
        copy.col = n->col;
        copy.items = std::move(items);
        arena.push_back(std::move(copy));
        r = &arena.back();
      }
    } else if (n->isMap()) {
      std::vector<std::pair<const YNode*, const YNode*>> pairs;
      bool changed = false;
      pairs.reserve(n->pairs.size());
      for (const auto& [k, v] : n->pairs) {
        pairs.emplace_back(k, walk(v));
        changed |= pairs.back().second != v;
      }
      if (changed) {
        YNode copy;
        copy.kind = n->kind;
        copy.line = n->line;
        copy.col = n->col;
        copy.pairs = std::move(pairs);
        arena.push_back(std::move(copy));
        r = &arena.back();
      }
    }
    memo.emplace(n, r);
    return r;
  }
};

}  // namespace

const YNode* interpolateTree(const YNode* n, const ComposeVars& vars, std::deque<YNode>& arena,
                             const std::string& file, Diagnostics& diags) {
  TreeInterp t{vars, arena, file, diags, {}};
  return t.walk(n);
}

}  // namespace tend::spec
