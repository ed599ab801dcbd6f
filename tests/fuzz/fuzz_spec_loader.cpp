// Fuzzes the spec loader (YAML parsing, the typed model, validation, expansion) as tendd and
// `tendctl validate` run it, with the built-in providers registered. The input is up to four
// files separated by "%%FILE\n" lines: environment.yml, hosts.yml, apps.yml and a Compose
// file (compose/app.yml). Each input is loaded twice, apps.yml streamed and whole: the two
// must agree (diagnostics, resources, hashes, dependencies), as the loader promises.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/provider.h"
#include "core/spec.h"
#include "providers/builtin.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

const tend::ProviderRegistry& registry() {
  static const tend::ProviderRegistry r = [] {
    tend::ProviderRegistry x;
    tend::registerBuiltinProviders(x);
    return x;
  }();
  return r;
}

std::string describe(const tend::LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  if (r.graph) {
    for (const auto& res : r.graph->resources) {
      out += res.id + " " + res.hash;
      for (const auto& dep : res.dependsOn) out += " <" + dep;
      out += "\n";
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parts = tend::fuzz::splitParts(in, 4);
  const std::string dir = tend::fuzz::scratchDir() + "/spec";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/compose");
  static const char* kNames[] = {"environment.yml", "hosts.yml", "apps.yml", "compose/app.yml"};
  for (size_t i = 0; i < parts.size(); ++i) tend::fuzz::writeFile(dir + "/" + kNames[i], parts[i]);

  static const std::vector<std::string> secrets = {"db_password", "api_token"};
  tend::LoadOptions opts;
  opts.providers = &registry();
  opts.secretNames = &secrets;
  opts.revision = "fuzz";  // no git, no content hash of the scratch directory
  opts.streamApps = true;
  auto streamed = tend::loadSpecDir(dir, opts);
  opts.streamApps = false;
  auto whole = tend::loadSpecDir(dir, opts);
  if (streamed.ok() != whole.ok() || describe(streamed) != describe(whole)) {
    std::fprintf(stderr, "streamed and whole loads differ\n--- streamed\n%s--- whole\n%s",
                 describe(streamed).c_str(), describe(whole).c_str());
    std::abort();
  }
  // Every error is located in one of the spec's files (FILE:LINE:COL).
  for (const auto& d : streamed.diagnostics) {
    if (d.loc.file.empty()) {
      std::fprintf(stderr, "diagnostic without a file: %s\n", d.str().c_str());
      std::abort();
    }
  }
  return 0;
}
