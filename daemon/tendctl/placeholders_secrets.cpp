// Placeholder until the real commands land; deleted by their owner (helper "secrets").
#include <iostream>

#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {
int notYet(const char* what) {
  std::cerr << "tendctl: " << what << " is not available in this build\n";
  return kFailure;
}
}  // namespace
int cmdSecretsShow(const std::string&, const std::string&) { return notYet("secrets show"); }
int cmdSecretsSet(const std::string&, const std::string&, const std::string&) { return notYet("secrets set"); }
int cmdSecretsEdit(const std::string&) { return notYet("secrets edit"); }
}  // namespace tend::ctl
