#pragma once
// What a provider tells the spec loader about itself, beside its factory: the keys of its
// `providers.NAME` section, the rules that check that section against the rest of the spec,
// the kinds of resource it serves (with their prune order) and the endpoint its resources
// carry. The loader knows no provider by name; it asks the registrations (core/provider.h).
#include <functional>
#include <string>
#include <vector>

#include "core/diagnostic.h"
#include "core/spec/model.h"

namespace tend {

// One key of a `providers.NAME` section. The loader checks the shape (unknown keys, types) and
// keeps the values as JSON in ProviderSpec::config; string and path values are also kept with
// their location in ProviderSpec::strings ("path:" prefix for paths, dotted for nested keys).
struct ConfigKey {
  enum class Type {
    String,
    Path,        // a string, relative to the spec directory
    Integer,
    Boolean,
    StringList,
    Duration,    // "30s", "5m": stored as NAME_s (seconds)
    Map,         // a nested section: `keys`
  };
  ConfigKey(std::string n, Type t, std::vector<ConfigKey> sub = {})
      : name(std::move(n)), type(t), keys(std::move(sub)) {}
  std::string name;
  Type type = Type::String;
  std::vector<ConfigKey> keys;  // Map only
};

// A provider's validation rules see the whole loaded spec and their own section, and report
// located diagnostics. Called once per registered provider, configured or not (a rule may
// warn that resources need a provider that is not configured).
class ProviderCheck {
 public:
  ProviderCheck(const Spec& s, const spec::ProviderSpec* section, Diagnostics& out)
      : spec(s), section(section), out_(out) {}
  const Spec& spec;
  const spec::ProviderSpec* section;  // null when `providers.NAME` is absent

  bool configured(const std::string& provider) const { return spec.providers.count(provider) > 0; }
  // A vm or a host of hosts.yml.
  bool machineExists(const std::string& name) const { return spec.vm(name) || spec.host(name); }
  // A string (or path) value of the section, with its location; null when not set.
  const Str* string(const std::string& dottedKey) const;
  const Str* path(const std::string& dottedKey) const { return string("path:" + dottedKey); }
  void error(const SpecLoc& at, std::string message) const {
    out_.push_back({Severity::Error, at, std::move(message)});
  }
  void warning(const SpecLoc& at, std::string message) const {
    out_.push_back({Severity::Warning, at, std::move(message)});
  }

 private:
  Diagnostics& out_;
};

using ProviderRules = std::function<void(const ProviderCheck&)>;

// Computes the `endpoint` field every resource of the provider on `machine` carries (e.g.
// docker's "unix:/var/run/docker.sock" or "ssh://root@10.0.0.5:22"). Called once per machine.
using ProviderEndpoint = std::function<std::string(const Spec& spec, const std::string& machine)>;

// One kind of resource a provider serves. Prune deletes lower ranks first: what runs on a
// machine (containers 0, their networks, volumes and images 1, zones 2, the server config 3)
// before the machine's own configuration (hosts 4), before the machine (vms 5, templates 6).
struct ProviderKind {
  std::string name;
  int pruneRank = 0;
};

// Helpers for provider rules and endpoints (the spec's own conventions).
namespace spec {
// `rel` made absolute against the spec directory (an absolute path is kept).
std::string specPath(const Spec& s, const std::string& rel);
// The SSH port of a vm or host: its ssh_port, else providers.ssh.port, else 22.
int machineSshPort(const Spec& s, const std::string& machine);
}  // namespace spec

}  // namespace tend
