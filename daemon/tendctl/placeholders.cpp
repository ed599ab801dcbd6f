// Placeholders for tendctl commands whose implementation has not landed yet. Each owner deletes
// its function from here when adding the real file.
#include <iostream>

#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {
int notYet(const char* what) {
  std::cerr << "tendctl: " << what << " is not available in this build\n";
  return kFailure;
}
}  // namespace
int cmdValidate(const std::string&, const std::string&) { return notYet("validate"); }
int cmdPlanOffline(const std::string&, const std::string&, const std::string&) { return notYet("plan --offline"); }
int cmdPlanOnline(const Conn&, const std::string&) { return notYet("plan"); }
int cmdStatus(const Conn&, const std::string&) { return notYet("status"); }
int cmdReconcile(const Conn&, bool, const std::vector<std::string>&, const std::string&) { return notYet("reconcile"); }
int cmdEvents(const Conn&, long long, bool, const std::string&) { return notYet("events"); }
int cmdSecretsShow(const std::string&, const std::string&) { return notYet("secrets show"); }
int cmdSecretsSet(const std::string&, const std::string&, const std::string&) { return notYet("secrets set"); }
int cmdSecretsEdit(const std::string&) { return notYet("secrets edit"); }
}  // namespace tend::ctl
