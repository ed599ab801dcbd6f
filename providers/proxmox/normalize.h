#pragma once
// Pure functions that bring a VM config value read from Proxmox and the value a spec asks for
// to one form, so a plan compares meaning, not spelling. Without them a converged VM shows
// perpetual drift: `net0: virtio=BC:24:11:..,bridge=vmbr0` against `model virtio, bridge
// vmbr0`, `memory: current=4096` against 4096, tags re-sorted by the server, 0/1 against
// true, `size=32G` against `32768M`. Rules from qemu-server (Network.pm parse_net,
// parse_ipconfig), pve-common (parse_size) and pve-guest-common (get_unique_tags).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace tend::proxmox {

// `[key=]value,key=value` -> ordered key/value pairs (no schema: net/ipconfig/disk parsers
// below know their default keys).
Result<std::vector<std::pair<std::string, std::string>>> splitPropertyString(
    const std::string& text, const std::string& defaultKey);

// ---- net[n]
struct NetDevice {
  std::string model;   // virtio, e1000, ...
  std::string mac;     // uppercase; empty = let the server generate one
  std::string bridge;  // empty = NAT user network
  std::map<std::string, std::string> options;  // firewall, tag, mtu, rate, link_down, queues...
};
// Accepts the stored form `virtio=BC:24:11:..,bridge=vmbr0`, `model=virtio,macaddr=..`, and
// `virtio,bridge=vmbr0`.
Result<NetDevice> parseNet(const std::string& text);
// The form the server stores: `virtio=MAC,bridge=..,opt=..` (options sorted), or
// `virtio,bridge=..` without a MAC.
std::string formatNet(const NetDevice& n);
// Differences that matter: an empty desired MAC accepts any generated one; options compare
// with their defaults (firewall=0, link_down=0) filled in. Returns "" when equal, else a short
// description ("bridge vmbr0 -> vmbr1").
std::string netDiff(const NetDevice& actual, const NetDevice& desired);

// ---- memory: `[current=]<MiB>` in the config; the spec writes MiB or a size (4096, "4G").
Result<int64_t> parseConfigMemoryMiB(const std::string& text);
Result<int64_t> specMemoryMiB(const nlohmann::json& value);

// ---- tags: lowercased, de-duplicated, sorted, joined with ';' (the server's default).
std::string normalizeTags(const std::vector<std::string>& tags);
std::string normalizeTagString(const std::string& text);  // split at , ; or whitespace
std::vector<std::string> splitList(const std::string& text);

// ---- booleans: 0/1, "0"/"1", true/false -> the 0/1 the API wants.
std::optional<bool> normalizeBool(const nlohmann::json& v);
inline const char* boolParam(bool b) { return b ? "1" : "0"; }

// ---- disk sizes: N, N[KMGT], N[KMGT]iB (a bare number is bytes, as in pve-common).
Result<uint64_t> parseSize(const std::string& text);
// The largest unit that divides evenly: 34359738368 -> "32G".
std::string formatSize(uint64_t bytes);
// `local-lvm:vm-100-disk-0,size=32G` -> 32 GiB in bytes; nullopt without a size key.
std::optional<uint64_t> diskSizeOf(const std::string& diskValue);
struct DiskResize {
  enum class Kind { None, Grow, Shrink } kind = Kind::None;
  std::string size;     // Grow: the absolute `size` parameter for PUT .../resize
  std::string message;  // Shrink: the refusal (nothing is sent)
};
DiskResize planDiskResize(const std::string& disk, uint64_t currentBytes, uint64_t desiredBytes);

// ---- ipconfig[n]: ip=CIDR|dhcp, gw=IPv4, ip6=CIDR|dhcp|auto, gw6=IPv6
struct IpConfig {
  std::string ip, gw, ip6, gw6;
  bool operator==(const IpConfig&) const = default;
};
// Checks the server's rules: gw needs ip, gw with dhcp is refused, ip needs a prefix.
Result<IpConfig> parseIpConfig(const std::string& text);
std::string formatIpConfig(const IpConfig& c);  // ip=..,gw=..,ip6=..,gw6=.. (set keys only)

}  // namespace tend::proxmox
