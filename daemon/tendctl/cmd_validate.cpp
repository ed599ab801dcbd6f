// tendctl validate [DIR]: load, validate and expand a spec directory offline.
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/spec.h"
#include "daemon/tendctl/commands.h"
#include "providers/builtin.h"
#include "providers/docker/policy.h"

namespace tend::ctl {

namespace {
std::string& policyFile() {
  static std::string f;
  return f;
}
}  // namespace

void setPolicyFile(std::string path) { policyFile() = std::move(path); }

LoadResult loadSpecChecked(const std::string& dir) {
  LoadResult r = loadSpec(dir);
  docker::enforcePolicyFile(r, policyFile(), docker::defaultContainerPolicy());
  return r;
}

nlohmann::json diagnosticsJson(const Diagnostics& diags, Severity which) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& d : diags)
    if (d.severity == which)
      a.push_back({{"file", d.loc.file}, {"line", d.loc.line}, {"col", d.loc.col}, {"message", d.message}});
  return a;
}

LoadResult loadSpec(const std::string& dir) {
  LoadOptions opts;
  opts.providers = &builtinProviders();
  return loadSpecDir(dir, opts);
}

const ProviderRegistry& builtinProviders() {
  static const ProviderRegistry registry = [] {
    ProviderRegistry r;
    registerBuiltinProviders(r);
    return r;
  }();
  return registry;
}

int cmdValidate(const std::string& dir, const std::string& output, bool strict) {
  LoadResult r = loadSpecChecked(dir);
  if (strict) {
    // Compose's unset variables are warnings (and blank); --strict makes them errors, as a
    // CI check that no variable was forgotten.
    bool promoted = false;
    for (auto& d : r.diagnostics)
      if (d.severity == Severity::Warning && d.message.find("is not set: defaulting to a blank string") != std::string::npos) {
        d.severity = Severity::Error;
        promoted = true;
      }
    if (promoted) r.graph = nullptr;
  }
  if (output == "json") {
    nlohmann::json j = {{"ok", r.ok()},
                        {"errors", diagnosticsJson(r.diagnostics, Severity::Error)},
                        {"warnings", diagnosticsJson(r.diagnostics, Severity::Warning)},
                        {"resources", r.ok() ? r.graph->resources.size() : 0},
                        {"revision", r.ok() ? nlohmann::json(r.graph->revision) : nlohmann::json(nullptr)}};
    std::cout << j.dump(2) << "\n";
    return r.ok() ? kOk : kFailure;
  }
  for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";
  if (!r.ok()) return kFailure;
  std::cout << "spec OK: " << r.graph->resources.size() << " resources (revision " << r.graph->revision << ")\n";
  return kOk;
}

}  // namespace tend::ctl
