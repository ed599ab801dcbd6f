#pragma once
// A lab for the SSH provider's tests: Debian test hosts (test-hosts.sh, with CAP_SYS_ADMIN and
// CAP_NET_ADMIN and /proc/sys remounted writable, so mounts and namespaced sysctls work), each given a local apt repository of tiny packages built here (no mirror
// is contacted: `deb [trusted=yes] file:/srv/tend-repo ./`), a systemctl test double (the
// hosts run sshd as PID 1, no systemd: the double keeps unit state in files and logs every call
// to /var/log/systemctl.log), a spec directory written from YAML, and the real engine driving
// the provider over a memory state store.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/spec.h"
#include "providers/builtin.h"
#include "providers/ssh/ssh_provider.h"
#include "providers/ssh/ssh_registration.h"
#include "ssh_fixture.h"
#include "tests/support/memory_state_store.h"

namespace tend::sshtest {

inline const char* kFakeSystemctl = R"(#!/bin/sh
# systemctl test double: unit state in files, every call logged
d=/var/lib/fake-systemd
mkdir -p $d
echo "$*" >>/var/log/systemctl.log
cmd=$1; shift
now=0; quiet=0
while [ $# -gt 0 ]; do case "$1" in --now) now=1; shift;; --quiet|-q) quiet=1; shift;; *) break;; esac; done
u=$1
case "$cmd" in
  is-enabled) if [ -f "$d/$u.enabled" ]; then echo enabled; exit 0; fi; echo disabled; exit 1;;
  is-active) if [ -f "$d/$u.active" ]; then [ $quiet = 1 ] || echo active; exit 0; fi; [ $quiet = 1 ] || echo inactive; exit 3;;
  enable) touch "$d/$u.enabled"; [ $now = 1 ] && touch "$d/$u.active"; exit 0;;
  disable) rm -f "$d/$u.enabled"; [ $now = 1 ] && rm -f "$d/$u.active"; exit 0;;
  start|restart|reload) touch "$d/$u.active"; exit 0;;
  stop) rm -f "$d/$u.active"; exit 0;;
  daemon-reload) exit 0;;
esac
exit 0
)";

struct DebPackage {
  std::string name, depends, preinst;
};

class HostLab {
 public:
  // `realSystemd`: the hosts boot systemd (no systemctl double); services are real units.
  HostLab(int count, const std::vector<DebPackage>& packages, const std::string& dockerArgs = "--cap-add SYS_ADMIN --cap-add NET_ADMIN",
          bool realSystemd = false)
      : hosts_(count, realSystemd ? "" : dockerArgs, realSystemd), realSystemd_(realSystemd) {
    dir_ = tempDir("tend-hostlab-");
    REQUIRE(!dir_.empty());
    buildRepo(packages);
    for (const auto& h : hosts_.hosts()) prepare(h.container);
  }
  ~HostLab() {
    engine_.reset();
    provider_.reset();
    fs::remove_all(dir_);
  }

  TestHosts& hosts() { return hosts_; }
  const std::string& container(size_t i) const { return hosts_.hosts()[i].container; }
  const std::string& address(size_t i) const { return hosts_.hosts()[i].address; }

  // Runs a shell command in host i (as root, outside tend: the test's own view of the host).
  std::string on(size_t i, const std::string& cmd, int* rc = nullptr) {
    // sh() drops the trailing newline; put one back so expectations read like the file.
    std::string out = sh("docker exec " + container(i) + " sh -c " + tend::ssh::shellQuote(cmd) + " 2>&1", rc);
    return out.empty() ? out : out + "\n";
  }

  // environment.yml (providers.ssh with the run's key and known_hosts) + hosts.yml `hostsYaml`.
  void writeSpec(const std::string& hostsYaml, const std::string& extraSsh = "") {
    fs::create_directories(dir_ + "/spec");
    writeText(dir_ + "/spec/environment.yml",
              "environment: sshtest\nnetwork: { cidr: 127.0.0.0/8 }\nproviders:\n  ssh:\n    user: root\n"
              "    private_key_file: " + hosts_.dir() + "/id_ed25519\n    known_hosts_file: " + hosts_.dir() +
                  "/known_hosts\n    connect_timeout: 5s\n" + extraSsh);
    writeText(dir_ + "/spec/hosts.yml", hostsYaml);
  }
  std::string specDir() const { return dir_ + "/spec"; }

  // Loads the spec and starts an engine with a fresh provider over it.
  DesiredGraphPtr load() {
    registerBuiltinProviders(registry_);
    LoadOptions lo;
    lo.providers = &registry_;
    auto r = loadSpecDir(specDir(), lo);
    std::string diags;
    for (const auto& d : r.diagnostics) diags += d.loc.str() + ": " + d.message + "\n";
    INFO(diags);
    REQUIRE(r.ok());
    graph_ = r.graph;
    ProviderConfig pc;
    pc.config = graph_->providerConfigs.at("ssh");
    pc.specDir = specDir();
    pc.environment = "sshtest";
    provider_ = std::make_unique<tend::ssh::SshProvider>(pc);
    EngineOptions opts;
    opts.environment = "sshtest";
    opts.globalRatePerSecond = 0;
    opts.recheckInterval = std::chrono::milliseconds(300);
    opts.runTimeout = std::chrono::seconds(120);
    EngineDeps deps;
    deps.state = &store_;
    auto* p = provider_.get();
    deps.providerFor = [p](const std::string& n) -> Provider* { return n == "ssh" ? p : nullptr; };
    deps.pruneRank = [this](const std::string& kind) { return registry_.pruneRank(kind); };
    engine_ = makeEngine(deps, opts);
    engine_->setDesired(graph_);
    return graph_;
  }
  RunResult pass() {
    RunRequest rq;
    rq.trigger = "test";
    return engine_->run(rq);
  }
  ResourceStatus status(const std::string& id) {
    for (auto& s : engine_->status())
      if (s.id == id) return s;
    return {};
  }
  std::string statusDump() {
    std::string out;
    for (auto& s : engine_->status()) out += s.id + " " + s.phase + " " + s.message + "\n";
    return out;
  }
  tend::ssh::SshProvider& provider() { return *provider_; }
  Engine& engine() { return *engine_; }
  const std::string& dir() const { return dir_; }

 private:
  void buildRepo(const std::vector<DebPackage>& packages) {
    std::string repo = dir_ + "/repo";
    fs::create_directories(repo);
    std::string index;
    for (const auto& p : packages) {
      std::string root = dir_ + "/pkg-" + p.name;
      fs::create_directories(root + "/DEBIAN");
      fs::create_directories(root + "/usr/share/doc/" + p.name);
      writeText(root + "/usr/share/doc/" + p.name + "/README", "tend test package " + p.name + "\n");
      std::string control = "Package: " + p.name + "\nVersion: 1.0\nArchitecture: all\nMaintainer: tend tests "
                            "<tests@example.invalid>\n" + (p.depends.empty() ? "" : "Depends: " + p.depends + "\n") +
                            "Description: tend test package\n";
      writeText(root + "/DEBIAN/control", control);
      if (!p.preinst.empty()) writeText(root + "/DEBIAN/preinst", "#!/bin/sh\n" + p.preinst + "\n", 0755);
      std::string deb = repo + "/" + p.name + "_1.0_all.deb";
      int rc = 0;
      std::string out = sh("dpkg-deb --root-owner-group --build " + root + " " + deb + " 2>&1", &rc);
      INFO(out);
      REQUIRE(rc == 0);
      std::string sha = sh("sha256sum " + deb + " | cut -c1-64");
      while (!sha.empty() && sha.back() == '\n') sha.pop_back();
      index += control + "Filename: ./" + fs::path(deb).filename().string() + "\nSize: " +
               std::to_string(fs::file_size(deb)) + "\nSHA256: " + sha + "\n\n";
    }
    writeText(repo + "/Packages", index);
  }
  void prepare(const std::string& c) {
    int rc = 0;
    if (realSystemd_) {
      // Wait for the boot to settle (sshd is already up: the test hosts waited for its banner).
      std::string out = sh("docker exec " + c + " sh -c 'for i in $(seq 1 100); do s=$(systemctl is-system-running 2>/dev/null); "
                           "case \"$s\" in running|degraded) exit 0;; esac; sleep 0.1; done; echo \"$s\"; exit 1' 2>&1", &rc);
      INFO("systemd did not finish booting: " << out);
      REQUIRE(rc == 0);
      out = sh("docker cp " + dir_ + "/repo " + c + ":/srv/tend-repo 2>&1 && docker exec " + c +
                   " sh -c 'rm -f /etc/apt/sources.list.d/*; echo \"deb [trusted=yes] file:/srv/tend-repo ./\" >/etc/apt/sources.list' 2>&1",
               &rc);
      INFO(out);
      REQUIRE(rc == 0);
      return;
    }
    writeText(dir_ + "/systemctl", kFakeSystemctl, 0755);
    std::string out = sh("docker cp " + dir_ + "/repo " + c + ":/srv/tend-repo 2>&1 && docker cp " + dir_ +
                             "/systemctl " + c + ":/usr/local/bin/systemctl 2>&1 && docker exec " + c +
                             " sh -c 'mount -o remount,rw /proc/sys; rm -f /etc/apt/sources.list.d/*; echo \"deb [trusted=yes] file:/srv/tend-repo ./\" "
                             ">/etc/apt/sources.list; chmod 755 /usr/local/bin/systemctl' 2>&1",
                         &rc);
    INFO(out);
    REQUIRE(rc == 0);
  }

  TestHosts hosts_;
  bool realSystemd_ = false;
  std::string dir_;
  ProviderRegistry registry_;
  DesiredGraphPtr graph_;
  testing::MemoryStateStore store_;
  std::unique_ptr<tend::ssh::SshProvider> provider_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace tend::sshtest
