// Placeholder until the real commands land; deleted by their owner (helper "online").
#include <iostream>

#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {
int notYet(const char* what) {
  std::cerr << "tendctl: " << what << " is not available in this build\n";
  return kFailure;
}
}  // namespace
int cmdPlanOnline(const Conn&, const std::string&) { return notYet("plan"); }
int cmdStatus(const Conn&, const std::string&) { return notYet("status"); }
int cmdReconcile(const Conn&, bool, const std::vector<std::string>&, const std::string&) { return notYet("reconcile"); }
int cmdEvents(const Conn&, long long, bool, const std::string&) { return notYet("events"); }
}  // namespace tend::ctl
