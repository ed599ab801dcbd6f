#pragma once
// What a `vm/NAME` or `template/NAME` asks of Proxmox, and what a VM's config says, in one
// normalised form (normalize.h), so plan and apply compare meaning and write only what
// differs. Pure: no I/O.
//
// Ownership: every object tend creates carries the tag `tend` and, in its description, a mark
// line `tend: io.tend.resource=ID io.tend.environment=ENV io.tend.spec-hash=HASH` below the
// spec's own description. Only objects whose mark names the resource are changed or deleted.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/resource.h"
#include "core/result.h"
#include "providers/proxmox/settings.h"

namespace tend::proxmox {

struct Mark {
  std::string resource, environment, hash;
  bool present() const { return !resource.empty(); }
};

// The spec's description and the mark under it.
std::string markedDescription(const std::string& userDescription, const Mark& m);
// Splits a description read from Proxmox (trailing newlines ignored).
void splitDescription(const std::string& text, std::string& userDescription, Mark& mark);

struct DesiredVm {
  std::string id, name, node, storage, bridge, environment;
  int64_t vmid = 0;
  int64_t templateVmid = 0;  // 0 = none
  bool isTemplate = false;
  int64_t cores = 1;
  int64_t memoryMiB = 1024;
  std::optional<uint64_t> diskBytes;
  std::string ipconfig0;    // "ip=10.2.20.53/24,gw=10.2.20.1" ("" = not managed)
  std::string expectedIp;   // what the guest agent must report
  std::string nameserver;   // space separated ("" = not managed)
  std::string searchdomain;
  std::string ciuser;
  std::vector<std::string> sshKeys;
  std::string tags;         // normalised, includes "tend"
  bool onboot = true;
  bool agent = true;
  bool restartAuto = true;  // restart: auto (the VM's, else providers.proxmox's)
  std::string description;  // the spec's own
  std::string hash;
  // template only
  std::string imageUrl, sha256, imageStorage;
};

// From a DesiredResource of kind vm or template; settings fill what the payload lacks.
Result<DesiredVm> desiredOf(const DesiredResource& r, const Settings& s, const std::string& environment);

// The facts of one VM config (GET .../config), normalised. Stored as ObservedResource::state.
nlohmann::json stateFromConfig(const nlohmann::json& config);

// The boot disk of a config: first of scsi0, virtio0, sata0, ide0 that is a disk.
std::string bootDiskKey(const nlohmann::json& config);

struct FieldChange {
  std::string field;   // "memory", "net0", "disk", ...
  std::string from, to;
  bool needsReboot = false;  // takes effect on a running VM only after a reboot
};
// Differences between what the spec asks and the observed state (stateFromConfig), the
// description mark excluded. A disk smaller than the current one is listed as field "disk"
// with `shrink` set in `refusal`.
struct VmDiff {
  std::vector<FieldChange> changes;
  std::string refusal;  // non-empty: the change cannot be made (disk shrink); nothing is sent
  bool empty() const { return changes.empty() && refusal.empty(); }
  std::string summary() const;  // "memory 8192 -> 4096, tags a -> a;tend"
};
VmDiff diffVm(const DesiredVm& d, const nlohmann::json& state);

// The PUT .../config parameters for `diff` (values as the API wants them; sshkeys encoded
// once, formEncode encodes again), the description with the mark, and the digest.
std::vector<std::pair<std::string, std::string>> configParams(const DesiredVm& d, const VmDiff& diff,
                                                              const nlohmann::json& state,
                                                              bool writeDescription);

}  // namespace tend::proxmox
