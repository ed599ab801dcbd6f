// The Proxmox client against the API emulator on loopback: TLS pin / CA / insecure, token
// auth, the envelope and classified errors, sshkeys encoding, tasks failing in their
// exitstatus, locks as "busy", numbers as strings, deadlines, cancellation, keep-alive.
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "providers/proxmox/client.h"
#include "providers/proxmox/wire.h"
#include "tests/providers/proxmox/emulator_fixture.h"

using namespace tend::proxmox;
using tend::testing::PveEmulator;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

Request get(const std::string& path, Params p = {}) {
  Request r;
  r.path = path;
  r.params = std::move(p);
  r.deadline = Clock::now() + std::chrono::seconds(10);
  return r;
}

Request post(const std::string& path, Params p, const char* method = "POST") {
  Request r = get(path, std::move(p));
  r.method = method;
  return r;
}

int64_t totalRequests(const PveEmulator& emu) {
  auto c = emu.admin("GET", "/counters");
  return c.is_object() ? c["total"].get<int64_t>() : -1;
}

// Test-side wait for a task (the provider requeues instead; a test may poll).
TaskStatus waitTask(Client& c, const std::string& upid) {
  for (int i = 0; i < 300; ++i) {
    auto r = c.taskStatus("pve", upid, Clock::now() + std::chrono::seconds(5));
    REQUIRE(r.ok());
    auto st = parseTaskStatus(r.data);
    REQUIRE(st.ok());
    if (!st->running) return *st;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("task " << upid << " did not stop");
  return {};
}

std::string createTemplate(Client& c) {
  auto r = c.call(post("/nodes/pve/qemu", {{"vmid", "9000"},
                                          {"name", "base"},
                                          {"memory", "2048"},
                                          {"net0", "virtio,bridge=vmbr0"},
                                          {"scsi0", "local-lvm:4"},
                                          {"ide2", "local-lvm:cloudinit"},
                                          {"agent", "1"}}));
  REQUIRE(r.ok());
  REQUIRE(waitTask(c, r.data.get<std::string>()).succeeded());
  r = c.call(post("/nodes/pve/qemu/9000/template", {}));
  REQUIRE(r.ok());
  REQUIRE(waitTask(c, r.data.get<std::string>()).succeeded());
  return "9000";
}

}  // namespace

#define START_EMULATOR(emu, ...)      \
  PveEmulator emu{__VA_ARGS__};       \
  if (!emu.started()) FAIL(emu.error)

TEST_CASE("token auth works, a bad token is a clear auth error without the secret",
          "[proxmox][client]") {
  START_EMULATOR(emu);
  Client ok(emu.config());
  REQUIRE(ok.ready().ok());
  auto r = ok.call(get("/version"));
  REQUIRE(r.ok());
  CHECK(r.data["release"] == "9.1");

  auto cfg = emu.config();
  cfg.tokenSecret = "wrong-secret-value";
  Client bad(cfg);
  auto t0 = Clock::now();
  r = bad.call(get("/version"));
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(250));  // the server's delayed 401
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.kind == ErrorKind::Auth);
  CHECK(r.error.status == 401);
  CHECK_FALSE(r.error.retryable());
  CHECK(r.error.text() == "proxmox: authentication failure (HTTP 401)");
  CHECK(r.error.text().find("wrong-secret-value") == std::string::npos);
}

TEST_CASE("a wrong TLS pin is refused before any request is sent", "[proxmox][client][tls]") {
  START_EMULATOR(emu);
  auto cfg = emu.config();
  std::string fp = cfg.tls.fingerprint;
  fp[0] = fp[0] == 'A' ? 'B' : 'A';
  cfg.tls.fingerprint = fp;
  Client c(cfg);
  auto r = c.call(get("/version"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.kind == ErrorKind::Tls);
  CHECK(r.error.message.find("not the pinned tls.fingerprint; nothing was sent") != std::string::npos);
  CHECK(r.error.message.find(emu.fingerprint) != std::string::npos);  // says what it saw
  CHECK(c.requestsSent() == 0);
  CHECK(totalRequests(emu) == 0);  // the emulator never saw an HTTP request

  // A CA that did not sign the node's certificate: refused the same way.
  cfg = emu.config();
  cfg.tls.fingerprint.clear();
  cfg.tls.caFile = emu.untrustedCaFile();
  Client other(cfg);
  r = other.call(get("/version"));
  CHECK(r.error.kind == ErrorKind::Tls);
  CHECK(r.error.message.find("cannot verify the certificate") != std::string::npos);
  CHECK(totalRequests(emu) == 0);

  // No settings at all: the system CAs do not know the node's CA.
  cfg.tls.caFile.clear();
  Client system(cfg);
  CHECK(system.call(get("/version")).error.kind == ErrorKind::Tls);
  CHECK(totalRequests(emu) == 0);

  cfg.tls.caFile = emu.dir + "/missing.pem";
  Client missing(cfg);
  CHECK_FALSE(missing.ready().ok());
  CHECK(missing.ready().error().message.find("missing.pem") != std::string::npos);
}

TEST_CASE("a CA file (pve-root-ca.pem) is trusted with an IP check, insecure only when set",
          "[proxmox][client][tls]") {
  START_EMULATOR(emu);
  auto cfg = emu.config();
  cfg.tls.fingerprint.clear();
  cfg.tls.caFile = emu.caFile();
  Client ca(cfg);
  CHECK(ca.call(get("/version")).ok());
  // The node's certificate itself (pve-ssl.pem) works as the trust anchor too.
  auto leaf = cfg;
  leaf.tls.caFile = emu.dir + "/cert.pem";
  Client leafTrust(leaf);
  CHECK(leafTrust.call(get("/version")).ok());

  // A node whose certificate names another host: the CA signed it, the name check refuses it.
  PveEmulator other{{"--cert-host", "pve2.invalid"}};
  if (!other.started()) FAIL(other.error);
  auto wrongHost = other.config();
  wrongHost.tls.fingerprint.clear();
  wrongHost.tls.caFile = other.caFile();
  Client wh(wrongHost);
  auto r = wh.call(get("/version"));
  CHECK(r.error.kind == ErrorKind::Tls);
  CHECK(totalRequests(other) == 0);

  cfg.tls.caFile.clear();
  cfg.tls.insecure = true;
  Client insecure(cfg);
  CHECK(insecure.call(get("/version")).ok());
}

TEST_CASE("envelope, 400 parameter errors, 500 and 501 map to classified errors",
          "[proxmox][client]") {
  START_EMULATOR(emu);
  Client c(emu.config());
  auto r = c.call(get("/cluster/resources", {{"type", "node"}}));
  REQUIRE(r.ok());
  REQUIRE(r.data.is_array());
  CHECK(r.data[0]["node"] == "pve");

  r = c.call(post("/nodes/pve/qemu", {{"vmid", "100"}, {"onboot", "true"}, {"colour", "red"}}));
  REQUIRE(r.error.kind == ErrorKind::Param);
  CHECK(r.error.status == 400);
  CHECK(r.error.message == "Parameter verification failed.");
  CHECK(r.error.params.at("onboot") == "type check ('boolean') failed - got 'true'");
  CHECK(r.error.params.at("colour").find("property is not defined in schema") == 0);

  r = c.call(get("/nodes/pve/qemu/123/config"));
  CHECK(r.error.kind == ErrorKind::NotFound);
  CHECK(r.error.message == "Configuration file 'nodes/pve/qemu-server/123.conf' does not exist");

  r = c.call(get("/nodes/pve/qemu/123/nothing"));
  CHECK(r.error.kind == ErrorKind::Server);
  CHECK(r.error.status == 501);
  CHECK_FALSE(r.error.retryable());

  emu.admin("POST", "/faults", {{"path", "nextid"}, {"status", 500}, {"message", "injected failure"}, {"count", 1}});
  r = c.call(get("/cluster/nextid"));
  CHECK(r.error.kind == ErrorKind::Server);
  CHECK(r.error.retryable());
  CHECK(r.error.text() == "proxmox: injected failure (HTTP 500)");
  r = c.call(get("/cluster/nextid"));
  REQUIRE(r.ok());
  CHECK(asInt(r.data) == 100);
}

TEST_CASE("sshkeys double encoding is accepted and round-trips", "[proxmox][client]") {
  START_EMULATOR(emu);
  Client c(emu.config());
  std::vector<std::string> keys = {
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx+/tend+key= me@laptop",
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7+/= ops team@host"};
  auto r = c.call(post("/nodes/pve/qemu", {{"vmid", "101"}, {"name", "web"}, {"sshkeys", encodeSshKeys(keys)},
                                          {"ipconfig0", "ip=127.0.0.53/8,gw=127.0.0.1"},
                                          {"tags", "tend;Infrastructure"}}));
  REQUIRE(r.ok());
  REQUIRE(waitTask(c, r.data.get<std::string>()).succeeded());
  r = c.call(get("/nodes/pve/qemu/101/config"));
  REQUIRE(r.ok());
  CHECK(percentDecode(r.data["sshkeys"].get<std::string>()) == keys[0] + "\n" + keys[1] + "\n");
  CHECK(r.data["tags"] == "infrastructure;tend");
  // Sent once-encoded (what clients get wrong), the server refuses it.
  r = c.call(post("/nodes/pve/qemu", {{"vmid", "102"}, {"sshkeys", keys[0]}}));
  CHECK(r.error.kind == ErrorKind::Param);
  CHECK(r.error.params.count("sshkeys") == 1);
}

TEST_CASE("a task that fails in its exitstatus is an error although HTTP said 200",
          "[proxmox][client][task]") {
  START_EMULATOR(emu);
  Client c(emu.config());
  createTemplate(c);
  emu.admin("POST", "/task-faults", {{"type", "qmclone"}, {"exitstatus", "clone failed: storage 'local-lvm' full"}, {"count", 1}});
  auto r = c.call(post("/nodes/pve/qemu/9000/clone", {{"newid", "1000"}, {"name", "web"}, {"full", "1"}}));
  REQUIRE(r.ok());
  std::string upid = r.data.get<std::string>();
  auto u = parseUpid(upid);
  REQUIRE(u.ok());
  CHECK(u->type == "qmclone");
  CHECK(u->id == "9000");
  CHECK(u->user == "tend@pve!ci");
  auto st = waitTask(c, upid);
  CHECK(st.failed());
  auto e = st.error(upid);
  CHECK(e.kind == ErrorKind::Task);
  CHECK(e.text() == "proxmox: task failed: clone failed: storage 'local-lvm' full");
  CHECK_FALSE(e.retryable());
  auto log = c.call(get("/nodes/pve/tasks/" + pathSegment(upid) + "/log", {{"start", "0"}, {"limit", "50"}}));
  REQUIRE(log.ok());
  CHECK(log.data.back()["t"] == "TASK ERROR: clone failed: storage 'local-lvm' full");
}

TEST_CASE("locks are busy and retryable: VM is locked, can't lock file", "[proxmox][client][lock]") {
  START_EMULATOR(emu);
  Client c(emu.config());
  createTemplate(c);
  emu.admin("POST", "/settings", {{"task_seconds", {{"qmclone", 1.5}}}});
  auto r = c.call(post("/nodes/pve/qemu/9000/clone", {{"newid", "1000"}, {"name", "web"}, {"full", "1"}}));
  REQUIRE(r.ok());
  std::string upid = r.data.get<std::string>();
  r = c.call(post("/nodes/pve/qemu/1000/config", {{"cores", "2"}}, "PUT"));
  CHECK(r.error.kind == ErrorKind::Busy);
  CHECK(r.error.message == "VM is locked (clone)");
  CHECK(r.error.retryable());
  CHECK_FALSE(r.error.toError().terminal);
  // A start during the clone "succeeds" with a UPID whose exitstatus is the lock error.
  r = c.call(post("/nodes/pve/qemu/1000/status/start", {}));
  REQUIRE(r.ok());
  auto st = waitTask(c, r.data.get<std::string>());
  CHECK(st.error("").kind == ErrorKind::Busy);
  CHECK(waitTask(c, upid).succeeded());

  emu.admin("POST", "/faults", {{"path", "config$"}, {"method", "PUT"}, {"kind", "lock_timeout"}, {"vmid", 1000}, {"count", 1}});
  r = c.call(post("/nodes/pve/qemu/1000/config", {{"cores", "2"}}, "PUT"));
  CHECK(r.error.kind == ErrorKind::Busy);
  CHECK(r.error.message == "can't lock file '/var/lock/qemu-server/lock-1000.conf' - got timeout");

  // digest: a change behind our back makes the stale digest fail.
  r = c.call(get("/nodes/pve/qemu/1000/config"));
  REQUIRE(r.ok());
  std::string digest = r.data["digest"];
  emu.admin("POST", "/vms/1000", {{"set", {{"memory", "1024"}}}});
  r = c.call(post("/nodes/pve/qemu/1000/config", {{"cores", "2"}, {"digest", digest}}, "PUT"));
  CHECK(r.error.kind == ErrorKind::Server);
  CHECK(r.error.message == "checksum mismatch (file change by other user?)");
}

TEST_CASE("numbers that arrive as strings are accepted", "[proxmox][client]") {
  START_EMULATOR(emu, {"--numbers-as-strings"});
  Client c(emu.config());
  createTemplate(c);
  auto r = c.call(get("/cluster/resources", {{"type", "vm"}}));
  REQUIRE(r.ok());
  REQUIRE(r.data.size() == 1);
  CHECK(r.data[0]["vmid"].is_string());
  CHECK(intField(r.data[0], "vmid") == 9000);
  CHECK(boolField(r.data[0], "template") == true);
  CHECK(intField(r.data[0], "maxmem") == (2048LL << 20));
  r = c.call(get("/nodes/pve/qemu/9000/config"));
  CHECK(r.data["template"].is_string());
  CHECK(boolField(r.data, "template") == true);
}

TEST_CASE("a hanging server: the call's deadline fires", "[proxmox][client][deadline]") {
  START_EMULATOR(emu);
  emu.admin("POST", "/faults", {{"path", "^/version$"}, {"kind", "hang"}, {"seconds", 30}});
  Client c(emu.config());
  Request req = get("/version");
  req.deadline = Clock::now() + std::chrono::milliseconds(400);
  auto t0 = Clock::now();
  auto r = c.call(req);
  auto took = Clock::now() - t0;
  CHECK(r.error.kind == ErrorKind::Timeout);
  CHECK(r.error.retryable());
  CHECK(took >= std::chrono::milliseconds(350));
  CHECK(took < std::chrono::seconds(3));
  // Other calls on the same client still work (the hung connection was dropped).
  CHECK(c.call(get("/cluster/nextid")).ok());
  emu.admin("DELETE", "/faults");
}

TEST_CASE("cancellation aborts the socket of a call in flight", "[proxmox][client][cancel]") {
  START_EMULATOR(emu);
  emu.admin("POST", "/faults", {{"path", "^/version$"}, {"kind", "hang"}, {"seconds", 30}});
  Client c(emu.config());
  auto token = std::make_shared<CancelToken>();
  Request req = get("/version");
  req.deadline = Clock::now() + std::chrono::seconds(20);
  req.cancel = token;
  auto t0 = Clock::now();
  auto fut = c.send(req);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  token->cancel();
  REQUIRE(fut.wait_for(std::chrono::seconds(3)) == std::future_status::ready);
  auto r = fut.get();
  CHECK(r.error.kind == ErrorKind::Cancelled);
  CHECK(Clock::now() - t0 < std::chrono::seconds(3));

  // Already cancelled: nothing reaches the network.
  size_t sent = c.requestsSent();
  Request again = get("/cluster/nextid");
  again.cancel = token;
  CHECK(c.call(again).error.kind == ErrorKind::Cancelled);
  CHECK(c.requestsSent() == sent);
  emu.admin("DELETE", "/faults");
}

TEST_CASE("keep-alive: sequential calls reuse one connection", "[proxmox][client]") {
  START_EMULATOR(emu);
  Client c(emu.config());
  for (int i = 0; i < 5; ++i) REQUIRE(c.call(get("/cluster/resources")).ok());
  CHECK(c.connectionsOpened() == 1);
  CHECK(c.requestsSent() == 5);
  auto counters = emu.admin("GET", "/counters");
  CHECK(counters["requests"]["GET /cluster/resources"] == 5);
  CHECK(counters["writes"] == 0);
}

TEST_CASE("calls in flight run concurrently on their own connections", "[proxmox][client]") {
  START_EMULATOR(emu);
  emu.admin("POST", "/faults", {{"path", "^/version$"}, {"kind", "delay"}, {"seconds", 0.6}});
  Client c(emu.config());
  auto t0 = Clock::now();
  std::vector<std::future<Response>> futs;
  for (int i = 0; i < 4; ++i) futs.push_back(c.send(get("/version")));
  for (auto& f : futs) CHECK(f.get().ok());
  CHECK(Clock::now() - t0 < std::chrono::milliseconds(2000));  // not 4 x 0.6 s
  CHECK(c.connectionsOpened() == 4);
  // Afterwards the pooled connections serve new calls without new handshakes.
  emu.admin("DELETE", "/faults");
  CHECK(c.call(get("/cluster/nextid")).ok());
  CHECK(c.connectionsOpened() == 4);
}
