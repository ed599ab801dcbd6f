#pragma once
// tendctl subcommands. Each lives in its own file; main.cpp only parses arguments.
// Exit codes (CONTRACT.md): 0 ok, 1 failure/invalid, 2 usage error, 3 daemon unreachable.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/provider.h"
#include "core/spec.h"

namespace tend::ctl {

enum Exit { kOk = 0, kFailure = 1, kUsage = 2, kUnreachable = 3 };

struct Conn {
  std::string socket;     // --socket / TEND_SOCKET
  std::string url;        // --url / TEND_URL
  std::string tokenFile;  // --token-file / TEND_TOKEN_FILE
  std::string caFile;     // --cacert / TEND_CACERT: CA for an https:// --url
};

// cmd_validate.cpp (offline). Offline loads apply the operator policy (--policy FILE, or the
// default one) like tendd does: a spec the daemon would refuse does not validate.
void setPolicyFile(std::string path);
LoadResult loadSpecChecked(const std::string& dir);
int cmdValidate(const std::string& dir, const std::string& output, bool strict = false);
// The providers built into tend (the registry tendd uses), and a spec loaded with them.
const ProviderRegistry& builtinProviders();
LoadResult loadSpec(const std::string& dir);
// cmd_plan_offline.cpp: plan against recorded state (--state, default ./var/tend.db), no daemon.
int cmdPlanOffline(const std::string& dir, const std::string& stateFile, const std::string& output);
// cmd_online.cpp: talk to a running tendd
int cmdPlanOnline(const Conn& c, const std::string& output);
int cmdStatus(const Conn& c, const std::string& output);
int cmdReconcile(const Conn& c, bool wait, const std::vector<std::string>& resources,
                 const std::string& output);
int cmdEvents(const Conn& c, long long since, bool follow, const std::string& output);
// cmd_ui.cpp: the terminal UI (ncurses) over the event stream.
int cmdUi(const Conn& c);
// cmd_render.cpp (offline): derived files into OUTDIR; explain one app or resource id.
int cmdRender(const std::string& dir, const std::string& outDir, bool reveal, const std::string& keyFile,
              const std::string& output);
int cmdExplain(const std::string& what, const std::string& dir, const std::string& output);
// The same from the running tendd (GET /v1/explain/WHAT, the applied spec), in cmd_online.cpp.
int cmdExplainOnline(const Conn& c, const std::string& what, const std::string& output);
// Prints explain items (spec::explainJson's form) as text or JSON.
int printExplain(const nlohmann::json& items, const std::string& output);
// cmd_secrets.cpp
int cmdSecretsShow(const std::string& name, const std::string& dir);
int cmdSecretsSet(const std::string& name, const std::string& dir, const std::string& valueFile);
int cmdSecretsEdit(const std::string& dir);

}  // namespace tend::ctl
