#pragma once
// The operator's policy for containers: what a spec (which anyone with push access to the
// spec repository can change) may ask of a Docker host. It lives outside the spec (tendd and
// tendctl --policy FILE) and is checked on the expanded graph, after validation; a spec it
// refuses is an invalid spec (the daemon keeps enforcing the last good one).
#include <optional>
#include <string>
#include <vector>

#include "core/diagnostic.h"
#include "core/resource.h"
#include "core/result.h"
#include "core/spec.h"

namespace tend::docker {

struct ContainerPolicy {
  bool privileged = true;    // privileged: true
  bool hostNetwork = true;   // network_mode: host
  // Allowed cap_add values ("NET_ADMIN"; CAP_ prefix and case ignored); nullopt: any.
  std::optional<std::vector<std::string>> capabilities;
  // Allowed device host paths (a path allows everything under it); nullopt: any.
  std::optional<std::vector<std::string>> devices;
  // Bind-mount sources must lie under one of these; nullopt: anywhere.
  std::optional<std::vector<std::string>> bindAllow;
  // Never bind-mounted, nor inside one, nor a directory that contains one ("/" as an entry
  // means the root itself only).
  std::vector<std::string> bindDeny;
  std::string origin = "the default policy";  // named in refusals: the file, or the default
};

// No policy file: Docker's own limits, except that bind mounts of the host's root, the Docker
// socket (/var/run/docker.sock, /run/docker.sock), /etc/tend, /var/lib/tend and `ownPaths`
// (the daemon's state and spec directories, credential files) are refused.
ContainerPolicy defaultContainerPolicy(const std::vector<std::string>& ownPaths = {});

// Reads a policy file (YAML, see README "Operator policy"); keys it leaves out keep
// `defaults`' values. Every problem is a located diagnostic; null policy when there is one.
struct PolicyLoad {
  std::optional<ContainerPolicy> policy;
  Diagnostics diagnostics;
};
PolicyLoad loadContainerPolicy(const std::string& path, const ContainerPolicy& defaults);

// One error per refused field of a docker container, located at the spec line asking for it.
Diagnostics checkContainerPolicy(const DesiredGraph& g, const ContainerPolicy& p);

// Adds checkContainerPolicy's errors to a load that succeeded; the load then fails (no graph,
// no spec) like any invalid spec.
void enforceContainerPolicy(LoadResult& r, const ContainerPolicy& p);

// enforceContainerPolicy with the policy in `policyFile` ("" = `defaults`), read at every
// call: an edited policy counts from the next spec load on. A policy file that does not
// load fails the spec load with its own located errors.
void enforcePolicyFile(LoadResult& r, const std::string& policyFile, const ContainerPolicy& defaults);

}  // namespace tend::docker
