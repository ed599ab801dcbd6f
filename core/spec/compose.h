#pragma once
// Reading Docker Compose service definitions (inline `containers:` entries and Compose files)
// into ContainerSpec. Only the supported subset is accepted; anything else is a located error.
#include <string>

#include "core/spec/model.h"
#include "core/spec/walker.h"

namespace tend::spec {

// One service. `baseDir` is the directory relative bind sources and env_files are read from;
// env_files must resolve inside `specRoot`, the spec directory (confinePath).
// `vars`: the Compose variables env_file values may use (null: none). The value must already be
// interpolated (interpolateTree): readContainer reads it as written.
class ComposeVars;
void readContainer(Walker& w, const YNode* key, const YNode* value, const std::string& baseDir,
                   const std::string& specRoot, ContainerSpec& out, const ComposeVars* vars = nullptr);
// Compose top-level `volumes:` / `networks:` (also accepted on an app).
void readNamedVolumes(Walker& w, const YNode* v, std::vector<NamedVolume>& out);
void readNamedNetworks(Walker& w, const YNode* v, std::vector<NamedNetwork>& out);
// Compose top-level `secrets:` (secret) or `configs:` (also accepted on an app): `file` paths
// resolve against `baseDir` and must stay inside `specRoot`; `vars` checks that an
// `environment:` variable is set (a warning: tendd reads it when it creates the container, from
// its environment and then from `dotenv`, the project's .env).
void readFileObjects(Walker& w, const YNode* v, bool secret, const std::string& baseDir, const std::string& specRoot,
                     const ComposeVars* vars, const std::string& dotenv, std::vector<FileObject>& out);
// The Compose files of an app (`files`, merged in order) into `app`: include and extends
// resolved, profiles applied (app.profiles), values interpolated with the `.env` beside the
// first file and the process environment. `shownFiles` gets every file read (as shown).
void readComposeProject(const std::vector<Str>& files, const std::string& specRoot, const std::string& specShown,
                        AppSpec& app, Diagnostics& diags, std::vector<std::string>& shownFiles);
// A text file inside the spec (env_file, .env, label_file): false with `why` when refused or
// unreadable; `missing` when it is not there.
bool readComposeText(const std::string& specRoot, const std::string& baseDir, const std::string& rel,
                     std::string& text, std::string& why, bool& missing);

// "127.0.0.1:8080:80/udp" -> ports (ranges expand). False when it does not parse.
bool parsePortString(const std::string& s, std::vector<PortSpec>& out);
// Splits a Compose string command the way a POSIX shell splits words (quotes, no expansion).
std::vector<std::string> shellSplit(const std::string& s);
// Splits on ':' outside ${...}.
std::vector<std::string> splitColons(const std::string& s);

}  // namespace tend::spec
