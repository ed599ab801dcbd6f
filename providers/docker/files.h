#pragma once
// Compose secrets and configs of a container payload (`files`, docs/resources.md): their
// values read when the container is created, and delivered into it read-only.
//
// A value comes from `content` (tend's ${secret:NAME} substituted), `file` (a file of the spec)
// or `env` (tendd's environment, then the project's .env). It never enters the payload, the
// state or a message; only the keyed spec-hash label changes when it does.
//
// Delivery: with a Docker Engine on this machine (a unix socket) each file is written under
// the provider's state directory (mode as asked, owner uid/gid when given) and bind-mounted
// read-only at its target, as Compose does. A remote engine cannot see those files: there the
// files are copied into the created container (PUT /containers/{id}/archive) before it starts.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "core/secrets.h"

namespace tend::docker {

struct DeliveredFile {
  std::string kind;    // secret | config
  std::string name;    // the Compose name
  std::string target;  // absolute path in the container
  uint32_t mode = 0444;
  std::optional<uint32_t> uid, gid;
  SecretString content;
};

// True when an entry of `files` takes its value from outside the payload (file: or env:).
bool hasExternalFileSources(const nlohmann::json& spec);

// Every `files` entry with its value. Errors name the secret or config and where its value
// was looked for, never the value.
Result<std::vector<DeliveredFile>> resolveFiles(const nlohmann::json& spec, const SecretResolver* secrets);

// Writes the files into `dir` (created 0700; replaced atomically; owner set when uid/gid is
// given) and returns their host paths, in order. Files of `dir` not in the list are removed.
Result<std::vector<std::string>> materializeFiles(const std::string& dir, const std::vector<DeliveredFile>& files);

// An uncompressed ustar archive of the files for PUT /containers/{id}/archive?path=/ (the
// daemon makes missing parent directories); an error names the entry whose target is too
// long for ustar.
Result<SecretString> tarFiles(const std::vector<DeliveredFile>& files);

}  // namespace tend::docker
