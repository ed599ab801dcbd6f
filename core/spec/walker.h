#pragma once
// Typed, located reading of YNode trees: every accessor reports a located error on a wrong
// type instead of throwing, so one pass collects every problem of a file.
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/spec/model.h"
#include "core/spec/ytree.h"

namespace tend::spec {

class Walker {
 public:
  Walker(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

  const std::string& file() const { return file_.str(); }
  Diagnostics& diags() { return diags_; }
  SpecLoc loc(const YNode* n) const { return {file_, n ? n->line : 1, n ? n->col : 1}; }
  void err(const YNode* n, std::string msg) { diags_.push_back({Severity::Error, loc(n), std::move(msg)}); }
  void warn(const YNode* n, std::string msg) { diags_.push_back({Severity::Warning, loc(n), std::move(msg)}); }

  // A wrong-type error: "'KEY' must be WHAT, got ...".
  void typeErr(const YNode* v, const std::string& key, const char* what);
  bool needMap(const YNode* v, const std::string& key);
  bool needSeq(const YNode* v, const std::string& key);

  struct Field {
    const char* key;
    std::function<void(const YNode* value)> fn;
  };
  // Walks a mapping: known keys go to their handler, unknown ones are "unknown key 'k' in CTX".
  // `other` (optional) may claim a key not in `fields` by returning true.
  void fields(const YNode* map, const std::string& ctx, std::initializer_list<Field> fields,
              const std::function<bool(const YNode* k, const YNode* v)>& other = nullptr);
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

 private:
  FileName file_;  // interned once per file: every located value shares it
  Diagnostics& diags_;
};

bool parseDuration(const std::string& s, int64_t& ms);
bool parseSize(const std::string& s, int64_t& bytes);
bool parseInt(const std::string& s, int64_t& out);

}  // namespace tend::spec
