// tendctl: argument parsing only; every command is in its own file (commands.h).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "daemon/tendctl/commands.h"

namespace {
std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace tend::ctl;
  CLI::App app{"tendctl — validate, plan and talk to a running tendd"};
  app.set_version_flag("--version", std::string("tendctl ") + TEND_VERSION);
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`tendctl status --socket S`), as in
  // kubectl: a subcommand hands the options it does not know to the parent. Inherited by every
  // subcommand added below.
  app.fallthrough();

  Conn conn;
  app.add_option("--socket", conn.socket, "tendd unix socket (env TEND_SOCKET)");
  app.add_option("--url", conn.url, "tendd URL, e.g. http://127.0.0.1:9469 or https://tend.lan:9469 (env TEND_URL)");
  app.add_option("--token-file", conn.tokenFile, "bearer token file (env TEND_TOKEN_FILE)");
  app.add_option("--cacert", conn.caFile,
                 "PEM CA that signed tendd's certificate, for an https:// URL (env TEND_CACERT; "
                 "default: the system trust store)");

  std::string output = "text";
  auto addOutput = [&](CLI::App* sub) {
    sub->add_option("-o,--output", output, "text or json")->check(CLI::IsMember({"text", "json"}));
  };

  std::string dir = ".", policy;
  auto addPolicy = [&](CLI::App* sub) {
    sub->add_option("--policy", policy,
                    "operator policy for containers, as tendd --policy (default: no bind mounts of /, "
                    "the Docker socket or tend's own directories)");
  };
  auto* validate = app.add_subcommand("validate", "check a spec directory offline");
  validate->add_option("dir", dir, "spec directory (default .)");
  addOutput(validate);
  addPolicy(validate);
  bool strict = false;
  validate->add_flag("--strict", strict, "an unset Compose variable is an error (default: a warning, blank value)");

  bool offline = false;
  std::string stateFile = "./var/tend.db";
  auto* plan = app.add_subcommand("plan", "show planned actions (daemon, or --offline)");
  plan->add_option("dir", dir, "spec directory for --offline (default .)");
  plan->add_flag("--offline", offline, "plan without a daemon against recorded state");
  plan->add_option("--state", stateFile, "state database for --offline");
  addOutput(plan);
  addPolicy(plan);

  auto* status = app.add_subcommand("status", "resources and the last run");
  addOutput(status);

  bool now = false, wait = false;
  std::vector<std::string> resources;
  auto* reconcile = app.add_subcommand("reconcile", "start a reconcile pass");
  reconcile->add_flag("--now", now, "start a pass now")->required();
  reconcile->add_flag("--wait", wait, "wait for the run's result");
  reconcile->add_option("--resource", resources, "limit the pass to these ids");
  addOutput(reconcile);

  long long since = 0;
  bool follow = false;
  auto* events = app.add_subcommand("events", "recorded events");
  events->add_option("--since", since, "only events after this id");
  events->add_flag("-f,--follow", follow, "keep printing new events");
  addOutput(events);

  auto* ui = app.add_subcommand("ui", "live terminal view: resources by tier and app, details, plan, reconcile");

  auto* secrets = app.add_subcommand("secrets", "read and write SOPS secrets without sops");
  secrets->require_subcommand(1);
  std::string secretName, valueFile;
  auto* sshow = secrets->add_subcommand("show", "print one decrypted value");
  sshow->add_option("name", secretName)->required();
  sshow->add_option("dir", dir, "spec directory (default .)");
  auto* sset = secrets->add_subcommand("set", "encrypt a value (from stdin or --from-file)");
  sset->add_option("name", secretName)->required();
  sset->add_option("dir", dir, "spec directory (default .)");
  sset->add_option("--from-file", valueFile, "read the value from this file");
  auto* sedit = secrets->add_subcommand("edit", "decrypt to $EDITOR, re-encrypt on save");
  sedit->add_option("dir", dir, "spec directory (default .)");

  std::string outDir, keyFile, what;
  bool reveal = false;
  auto* render = app.add_subcommand("render", "write every file tend would deliver (offline), for reading or diffing");
  render->add_option("dir", dir, "spec directory (default .)");
  render->add_option("--out", outDir, "output directory (files go to OUTDIR/HOST/PATH)")->required();
  render->add_flag("--reveal", reveal, "write secret values (needs the age key) instead of (secret)");
  render->add_option("--key", keyFile, "age identity file for --reveal (default TEND_AGE_KEY_FILE)");
  addOutput(render);
  addPolicy(render);
  auto* explainCmd = app.add_subcommand("explain", "what one app (or resource id) turns into, with FILE:LINE sources");
  explainCmd->add_option("what", what, "app name or resource id")->required();
  std::string explainDir;
  explainCmd->add_option("dir", explainDir, "spec directory (offline); without it the running tendd answers");
  addOutput(explainCmd);
  addPolicy(explainCmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "tendctl: " << e.what() << " (see tendctl --help)\n";
    return kUsage;
  }

  conn.socket = conn.socket.empty() ? envOr("TEND_SOCKET", "") : conn.socket;
  conn.url = conn.url.empty() ? envOr("TEND_URL", "") : conn.url;
  conn.tokenFile = conn.tokenFile.empty() ? envOr("TEND_TOKEN_FILE", "") : conn.tokenFile;
  conn.caFile = conn.caFile.empty() ? envOr("TEND_CACERT", "") : conn.caFile;
  if (conn.socket.empty() && conn.url.empty()) conn.socket = "./var/tendd.sock";

  setPolicyFile(policy);
  if (*validate) return cmdValidate(dir, output, strict);
  if (*plan) return offline ? cmdPlanOffline(dir, stateFile, output) : cmdPlanOnline(conn, output);
  if (*status) return cmdStatus(conn, output);
  if (*reconcile) return cmdReconcile(conn, wait, resources, output);
  if (*events) return cmdEvents(conn, since, follow, output);
  if (*ui) return cmdUi(conn);
  if (*render) return cmdRender(dir, outDir, reveal, keyFile, output);
  if (*explainCmd) return explainDir.empty() ? cmdExplainOnline(conn, what, output) : cmdExplain(what, explainDir, output);
  if (*sshow) return cmdSecretsShow(secretName, dir);
  if (*sset) return cmdSecretsSet(secretName, dir, valueFile);
  if (*sedit) return cmdSecretsEdit(dir);
  return kUsage;
}
