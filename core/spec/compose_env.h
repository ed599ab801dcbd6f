#pragma once
// Compose variables: `.env` / env_file parsing by Compose's dotenv rules, and `$VAR` /
// `${VAR...}` interpolation of Compose values as Compose does it. tend's own references
// (`${environment.*}`, `${secret:*}`, `${vms.*}`, `${hosts.*}`, `${app.*}`) are not Compose
// syntax and pass through untouched for the spec's own resolution later.
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/spec/ytree.h"

namespace tend::spec {

// Variables visible to a Compose file: the `.env` beside it, overridden by the process
// environment (Compose's precedence).
class ComposeVars {
 public:
  std::optional<std::string> get(const std::string& name) const;
  void set(const std::string& name, std::string value) { vars_[name] = std::move(value); }
  bool useProcessEnv = true;
  std::function<std::optional<std::string>(const std::string&)> fallback;  // after own()
  const std::map<std::string, std::string>& own() const { return vars_; }

 private:
  std::map<std::string, std::string> vars_;
};

// One dotenv file's text into ordered KEY -> value pairs (later duplicates win when put into
// a map). `lookup` resolves `${VAR}` inside values and a bare `KEY` line (inherited: absent
// from the result when `lookup` has no value). False and `err` (with the line) on a syntax
// error: a key with a space or another character Compose refuses, an unterminated quote.
bool parseDotenv(const std::string& text, const std::function<std::optional<std::string>(const std::string&)>& lookup,
                 std::vector<std::pair<std::string, std::string>>& out, std::string& err);

// Compose interpolation of one value. Unset variables without a default become "" and are
// appended to `unset`; `${VAR:?msg}` / `${VAR?msg}` and malformed templates return false with
// `err`. A literal '$' in the result (from `$$` or from a variable's value) is written `$$`
// when `escapeForSpec` so that tend's own `${...}` pass sees it as a literal, never a reference.
bool interpolateCompose(const std::string& in, const ComposeVars& vars, std::string& out, std::string& err,
                        std::vector<std::string>* unset, bool escapeForSpec = true);

// Interpolates every scalar value (not mapping keys) below `n`. Changed scalars are new nodes
// in `arena`; unchanged subtrees are shared. Errors and unset-variable warnings are located.
const YNode* interpolateTree(const YNode* n, const ComposeVars& vars, std::deque<YNode>& arena,
                             const std::string& file, Diagnostics& diags);

}  // namespace tend::spec
