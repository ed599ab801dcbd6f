#pragma once
// Pure translations between tend's payloads (docs/resources.md) and Docker Engine API bodies.
// No I/O: unit-tested without a daemon.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/resource.h"
#include "core/result.h"
#include "core/secrets.h"

namespace tend::docker {

// Ownership and Compose labels.
inline constexpr const char* kLabelResource = "io.tend.resource";
inline constexpr const char* kLabelEnvironment = "io.tend.environment";
inline constexpr const char* kLabelSpecHash = "io.tend.spec-hash";
// Set on volumes created with prune_volumes: true; delete (prune) only removes those.
inline constexpr const char* kLabelPruneVolume = "io.tend.prune-volume";
// Stop grace period recorded on containers so prune (which has no payload) honours it.
inline constexpr const char* kLabelStopGrace = "io.tend.stop-grace-period";

// "busybox" -> "busybox:latest"; strips "docker.io/" and "docker.io/library/" like the
// daemon's familiar names, so payload refs compare with RepoTags/RepoDigests.
std::string normalizeImageRef(const std::string& ref);
// Splits for POST /images/create: fromImage and tag (a tag or a digest "sha256:...").
void splitImageRef(const std::string& ref, std::string& name, std::string& tag);

// The labels tend puts on an object: payload labels + ownership (+ Compose for containers).
nlohmann::json ownershipLabels(const DesiredResource& r, const std::string& environment);

// POST /containers/create body (without secrets substituted), plus the names of networks to
// connect after create (API 1.41 accepts one network in NetworkingConfig).
struct ContainerCreate {
  nlohmann::json body;
  std::vector<std::pair<std::string, nlohmann::json>> extraNetworks;  // name, EndpointConfig
};
Result<ContainerCreate> buildContainerCreate(const DesiredResource& r,
                                             const std::string& environment);

nlohmann::json buildNetworkCreate(const DesiredResource& r, const std::string& environment);
nlohmann::json buildVolumeCreate(const DesiredResource& r, const std::string& environment);

// Replaces ${secret:NAME} in every string of `j` (values and nothing else). Error names the
// secret, never a value.
Result<void> substituteSecretsInJson(nlohmann::json& j, const SecretResolver* secrets);

// Secret rotation without leaking: the io.tend.spec-hash label of a container whose spec
// references ${secret:NAME} is sha256(specHash ":" HMAC-SHA256(key, id, names and resolved
// values)), so a changed secret value changes the label (and recreates the container) while
// the label reveals nothing without the key. Specs without secrets keep the plain spec hash.
// The values of Compose secrets and configs read from a file or the environment (files.h)
// count as secret values here.
bool referencesSecrets(const nlohmann::json& spec);
// Sorted unique NAMEs of ${secret:NAME} in every string of `spec`.
std::vector<std::string> secretNamesIn(const nlohmann::json& spec);
Result<std::string> effectiveSpecHash(const DesiredResource& r, const SecretResolver* secrets,
                                      const std::string& key);

// A GET /containers/json body with only what observe reads of each container (Id, Names,
// State, Status, ImageID, Labels): the rest (NetworkSettings, HostConfig, Mounts, Ports,
// Command...) is skipped while parsing, never built. Discarded (is_discarded()) when not JSON.
nlohmann::json parseContainerList(const std::string& body);

// Health from a container list Status text: "starting", "healthy", "unhealthy" or "".
std::string healthFromStatus(const std::string& status);
// The message of an observed container: its state and what of the list Status text does not
// age ("running (healthy)", "exited (3)", "restarting (1)"), never Docker's "Up 3 minutes",
// which would change the stored record of every container on passes that change nothing.
std::string containerMessage(const std::string& state, const std::string& status);

// Percent-encodes every byte of `s` but ASCII letters, digits and the characters in `keep`.
std::string percentEncode(const std::string& s, std::string_view keep);
// filters= value for the API: URL-encoded JSON (unreserved characters kept).
inline std::string urlEncode(const std::string& s) { return percentEncode(s, "-_.~"); }
// Anchored regexp for the container `name` filter (it matches by regexp on "/name").
std::string exactNameFilter(const std::string& name);

}  // namespace tend::docker
