#pragma once
// Typed, located reading of YNode trees: every accessor reports a located error on a wrong
// type instead of throwing, so one pass collects every problem of a file.
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/spec/model.h"
#include "core/spec/ytree.h"

namespace tend::spec {

// A callable kept inline (no heap): the ~50 field handlers of a container were one
// std::function allocation each, per container. Holds trivially copyable callables only
// (lambdas capturing references), which is what field handlers are.
template <class Sig>
class InlineFn;
template <class R, class... A>
class InlineFn<R(A...)> {
 public:
  InlineFn() = default;
  InlineFn(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, InlineFn>>>
  InlineFn(F&& f) {  // NOLINT(google-explicit-constructor)
    using D = std::decay_t<F>;
    static_assert(sizeof(D) <= sizeof(buf_) && alignof(D) <= alignof(std::max_align_t),
                  "field handler too large to keep inline: capture fewer variables");
    static_assert(std::is_trivially_copyable_v<D> && std::is_trivially_destructible_v<D>,
                  "field handlers capture by reference");
    ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
    call_ = [](const void* p, A... a) -> R { return (*static_cast<const D*>(p))(std::forward<A>(a)...); };
  }
  explicit operator bool() const { return call_ != nullptr; }
  R operator()(A... a) const { return call_(buf_, std::forward<A>(a)...); }

 private:
  alignas(std::max_align_t) unsigned char buf_[48]{};
  R (*call_)(const void*, A...) = nullptr;
};

class Walker {
 public:
  Walker(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

  const std::string& file() const { return file_.str(); }
  // While set, fields() ignores keys starting with "x-" in every mapping (Compose's extension
  // fields, allowed at any level of a Compose file and an inline container).
  bool composeExtensions(bool on) {
    bool was = composeExtensions_;
    composeExtensions_ = on;
    return was;
  }
  Diagnostics& diags() { return diags_; }
  SpecLoc loc(const YNode* n) const { return {file_, n ? n->line : 1, n ? n->col : 1}; }
  void err(const YNode* n, std::string msg) { diags_.push_back({Severity::Error, loc(n), std::move(msg)}); }
  void warn(const YNode* n, std::string msg) { diags_.push_back({Severity::Warning, loc(n), std::move(msg)}); }

  // A wrong-type error: "'KEY' must be WHAT, got ...". A scalar found is shown only when short
  // and on one line, and never for a whole document (`whole`): a file that is not YAML at all
  // (a token, a key) reads as one scalar, and its content must not reach any message.
  void typeErr(const YNode* v, const std::string& key, const char* what, bool whole = false);
  bool needMap(const YNode* v, const std::string& key);
  bool needSeq(const YNode* v, const std::string& key);

  struct Field {
    const char* key;
    InlineFn<void(const YNode* value)> fn;
  };
  // Walks a mapping: known keys go to their handler, unknown ones are "unknown key 'k' in CTX".
  // `other` (optional) may claim a key not in `fields` by returning true.
  void fields(const YNode* map, const std::string& ctx, std::initializer_list<Field> fields,
              const InlineFn<bool(const YNode* k, const YNode* v)>& other = nullptr);
  // Every entry of a name -> value mapping (e.g. vms:), keys checked to be scalars.
  void entries(const YNode* map, const std::string& key,
               const std::function<void(const YNode* k, const YNode* v)>& fn);

  Str str(const YNode* v, const std::string& key);
  Val<int64_t> integer(const YNode* v, const std::string& key, int64_t min = INT64_MIN,
                       int64_t max = INT64_MAX);
  Val<bool> boolean(const YNode* v, const std::string& key);
  Val<int64_t> durationS(const YNode* v, const std::string& key);  // seconds
  Val<int64_t> sizeBytes(const YNode* v, const std::string& key);
  std::vector<Str> strList(const YNode* v, const std::string& key);
  // A string or a list of strings (Compose allows either in several places).
  std::vector<Str> strOrList(const YNode* v, const std::string& key);
  // Plain conversion: plain scalars that look like bool/int/float become those.
  static nlohmann::json toJson(const YNode* v);
  // "invalid WHAT name '...'" at `loc` when `name` is not a validName(); false then.
  bool checkName(const std::string& name, const SpecLoc& loc, const std::string& what);
  bool checkName(const YNode* k, const std::string& what) { return checkName(k->value, loc(k), what); }
  bool checkName(const Str& s, const std::string& what) { return !s.set || checkName(s.v, s.loc, what); }

 private:
  FileName file_;  // interned once per file: every located value shares it
  bool composeExtensions_ = false;
  Diagnostics& diags_;
};

// A name that reaches a file name, a command line or a configuration file (apps, containers,
// hosts, vms, templates, views, networks, volumes): letters, digits, '_', '.' and '-', at
// most 128, not starting with '-' (an option) or '.', and no '..' (a parent directory).
bool validName(const std::string& s);
// `s` with control characters and '\' written as \xNN: a name shown in a message stays
// on one line and cannot pose as another message.
std::string printable(const std::string& s);

bool parseDuration(const std::string& s, int64_t& ms);
bool parseSize(const std::string& s, int64_t& bytes);
bool parseInt(const std::string& s, int64_t& out);

}  // namespace tend::spec
