#pragma once
// Reading Docker Compose service definitions (inline `containers:` entries and Compose files)
// into ContainerSpec. Only the supported subset is accepted; anything else is a located error.
#include <string>

#include "core/spec/model.h"
#include "core/spec/walker.h"

namespace tend::spec {

// One service. `baseDir` is the directory relative bind sources and env_files are read from;
// env_files must resolve inside `specRoot`, the spec directory (confinePath).
void readContainer(Walker& w, const YNode* key, const YNode* value, const std::string& baseDir,
                   const std::string& specRoot, ContainerSpec& out);
// Compose top-level `volumes:` / `networks:` (also accepted on an app).
void readNamedVolumes(Walker& w, const YNode* v, std::vector<NamedVolume>& out);
void readNamedNetworks(Walker& w, const YNode* v, std::vector<NamedNetwork>& out);
// A whole Compose file into `app` (services, volumes, networks).
void readComposeFile(Walker& w, const YDoc& doc, const std::string& baseDir,
                     const std::string& specRoot, AppSpec& app);

// "127.0.0.1:8080:80/udp" -> ports (ranges expand). False when it does not parse.
bool parsePortString(const std::string& s, std::vector<PortSpec>& out);
// Splits a Compose string command the way a POSIX shell splits words (quotes, no expansion).
std::vector<std::string> shellSplit(const std::string& s);
// Splits on ':' outside ${...}.
std::vector<std::string> splitColons(const std::string& s);

}  // namespace tend::spec
