#pragma once
// Loading a spec as tendd and tendctl do: with the built-in providers registered (their
// `providers.NAME` keys, rules and endpoints). Test binaries that include this link
// tend_providers.
#include <string>

#include "core/provider.h"
#include "core/spec.h"
#include "providers/builtin.h"

namespace tend::test {

inline const ProviderRegistry& builtinRegistry() {
  static const ProviderRegistry registry = [] {
    ProviderRegistry r;
    registerBuiltinProviders(r);
    return r;
  }();
  return registry;
}

inline LoadResult loadSpec(const std::string& dir, LoadOptions opts = {}) {
  if (!opts.providers) opts.providers = &builtinRegistry();
  return tend::loadSpecDir(dir, opts);
}

}  // namespace tend::test
