#pragma once
// Loading a spec directory: parse every YAML file (and referenced Compose files), validate all
// of them together, expand into the desired-resource DAG. Never a partial model: on any error
// `graph` is null and `diagnostics` holds every error found, each FILE:LINE:COL located.
#include <memory>
#include <string>

#include "core/diagnostic.h"
#include "core/resource.h"

namespace tend {

struct Spec;  // the typed, immutable model (core/spec/model.h)
class ProviderRegistry;  // core/provider.h

struct LoadOptions {
  // The providers this tend knows (registerBuiltinProviders): the keys and rules of each
  // `providers.NAME` section and the endpoints resources carry. Null = none: every provider
  // section is then an unknown key. Must outlive the call.
  const ProviderRegistry* providers = nullptr;
  // Names of secrets known to exist; when unset they are read (unencrypted) from the SOPS
  // file's keys. Tests may inject them.
  const std::vector<std::string>* secretNames = nullptr;
  std::string revision;  // when empty: git commit id (+"-dirty") of specDir, else content hash
  // true: apps.yml is parsed on a second thread and each app read and expanded as soon as it
  // is complete. false: parsed whole first, then read, then expanded. Same result either way
  // (tests compare the two).
  bool streamApps = true;
};

struct LoadResult {
  std::shared_ptr<const Spec> spec;  // null on error
  DesiredGraphPtr graph;             // null on error
  Diagnostics diagnostics;           // errors and warnings, sorted by file, line, col
  bool ok() const { return graph != nullptr; }
};

LoadResult loadSpecDir(const std::string& dir, const LoadOptions& opts = {});

}  // namespace tend
