// Pure parts of the Proxmox client: wire encoding, lenient scalars, error classification,
// UPIDs, task status, config normalisation (the guard against perpetual drift), settings.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "providers/proxmox/normalize.h"
#include "providers/proxmox/settings.h"
#include "providers/proxmox/wire.h"

using namespace tend::proxmox;
using nlohmann::json;

TEST_CASE("percent-encoding follows RFC 3986: space is %20, never +", "[proxmox][wire]") {
  CHECK(percentEncode("a b+/:=@\n~-._") == "a%20b%2B%2F%3A%3D%40%0A~-._");
  CHECK(formEncode({{"name", "web"}, {"description", "a b&c"}}) == "name=web&description=a%20b%26c");
  CHECK(percentDecode("a%20b%2Bc%0A") == "a b+c\n");
  CHECK(percentDecode("100%") == "100%");
}

TEST_CASE("sshkeys are percent-encoded once, then form-encoded again on the wire",
          "[proxmox][wire]") {
  std::string keys = encodeSshKeys({"ssh-ed25519 AAAAC3Nz+/k= me@host", "ssh-rsa AAAB x@y\n", ""});
  CHECK(keys == "ssh-ed25519%20AAAAC3Nz%2B%2Fk%3D%20me%40host%0Assh-rsa%20AAAB%20x%40y%0A");
  // The server's `urlencoded` format: ^[-%a-zA-Z0-9_.!~*'()]*$
  for (char c : keys) CHECK((std::isalnum(static_cast<unsigned char>(c)) || std::string("-%_.~").find(c) != std::string::npos));
  CHECK(formEncode({{"sshkeys", keys}}).find("%2520") != std::string::npos);  // double-encoded
  CHECK(percentDecode(keys) == "ssh-ed25519 AAAAC3Nz+/k= me@host\nssh-rsa AAAB x@y\n");
}

TEST_CASE("numbers that arrive as strings are read leniently", "[proxmox][wire]") {
  CHECK(asInt(json(42)) == 42);
  CHECK(asInt(json("42")) == 42);
  CHECK(asInt(json("+7")) == 7);
  CHECK(asInt(json(3.0)) == 3);
  CHECK_FALSE(asInt(json("4x")));
  CHECK_FALSE(asInt(json(3.5)));
  CHECK_FALSE(asInt(json(nullptr)));
  CHECK(asNumber(json("0.25")) == 0.25);
  CHECK(asBool(json(1)) == true);
  CHECK(asBool(json("0")) == false);
  CHECK(asBool(json(true)) == true);
  CHECK_FALSE(asBool(json(2)));
  CHECK(asString(json(100)) == "100");
  json obj = {{"vmid", "1000"}, {"template", 1}, {"name", "web"}};
  CHECK(intField(obj, "vmid") == 1000);
  CHECK(boolField(obj, "template") == true);
  CHECK_FALSE(intField(obj, "missing"));
  CHECK_FALSE(intField(json::array(), "vmid"));
}

TEST_CASE("errors are classified from status line, message and errors", "[proxmox][wire]") {
  auto e = errorFromResponse(500, "VM is locked (clone)", R"({"data":null,"message":"VM is locked (clone)\n"})");
  CHECK(e.kind == ErrorKind::Busy);
  CHECK(e.retryable());
  CHECK(e.text() == "proxmox: VM is locked (clone) (HTTP 500)");
  // Older servers: no `message`, the reason phrase carries it.
  e = errorFromResponse(500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout", R"({"data":null})");
  CHECK(e.kind == ErrorKind::Busy);
  e = errorFromResponse(400, "Parameter verification failed.",
                        R"({"data":null,"message":"Parameter verification failed.\n","errors":{"sshkeys":"invalid format - invalid urlencoded string: a b\n","onboot":"type check ('boolean') failed - got 'true'"}})");
  CHECK(e.kind == ErrorKind::Param);
  CHECK_FALSE(e.retryable());
  CHECK(e.params.at("onboot") == "type check ('boolean') failed - got 'true'");
  CHECK(e.text() == "proxmox: Parameter verification failed.: onboot: type check ('boolean') failed - got 'true'; "
                    "sshkeys: invalid format - invalid urlencoded string: a b (HTTP 400)");
  e = errorFromResponse(401, "authentication failure", R"({"data":null})");
  CHECK(e.kind == ErrorKind::Auth);
  CHECK(e.toError().terminal);
  CHECK(errorFromResponse(403, "Permission check failed (/vms/100, VM.Allocate)", "").kind == ErrorKind::Auth);
  e = errorFromResponse(500, "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist", "");
  CHECK(e.kind == ErrorKind::NotFound);
  e = errorFromResponse(501, "Method 'GET /nodes/x/y' not implemented", "not json");
  CHECK(e.kind == ErrorKind::Server);
  CHECK_FALSE(e.retryable());
  e = errorFromResponse(500, "unable to create VM 123: config file already exists", "");
  CHECK(e.kind == ErrorKind::Server);
  CHECK(e.retryable());
  CHECK(errorFromResponse(596, "", "").message == "HTTP 596");
}

TEST_CASE("UPIDs parse and format in the real layout", "[proxmox][wire]") {
  const std::string text = "UPID:x:00003836:1FE22F41:619510AC:qmclone:999:terraform-prov@pve:";
  auto u = parseUpid(text);
  REQUIRE(u.ok());
  CHECK(u->node == "x");
  CHECK(u->pid == 0x3836);
  CHECK(u->pstart == 0x1FE22F41);
  CHECK(u->starttime == 0x619510AC);
  CHECK(u->type == "qmclone");
  CHECK(u->id == "999");
  CHECK(u->user == "terraform-prov@pve");
  CHECK(formatUpid(*u) == text);
  auto t = parseUpid("UPID:pve:0000ABCD:123456789:6B0F81E2:qmstart:100:tend@pve!reconciler:");
  REQUIRE(t.ok());
  CHECK(t->pstart == 0x123456789ULL);
  CHECK(t->user == "tend@pve!reconciler");
  CHECK(formatUpid(*t) == "UPID:pve:0000ABCD:123456789:6B0F81E2:qmstart:100:tend@pve!reconciler:");
  CHECK_FALSE(parseUpid("UPID:x:3836:1FE22F41:619510AC:qmclone:999:u@pve").ok());  // no trailing colon
  CHECK_FALSE(parseUpid("not a upid").ok());
}

TEST_CASE("task status: OK and WARNINGS succeed, any other exitstatus is the error",
          "[proxmox][wire]") {
  auto running = parseTaskStatus(json{{"status", "running"}});
  REQUIRE(running.ok());
  CHECK(running->running);
  CHECK_FALSE(running->failed());
  auto ok = parseTaskStatus(json{{"status", "stopped"}, {"exitstatus", "OK"}});
  CHECK(ok->succeeded());
  auto warn = parseTaskStatus(json{{"status", "stopped"}, {"exitstatus", "WARNINGS: 2"}});
  CHECK(warn->succeeded());
  CHECK(warn->warnings() == 2);
  auto bad = parseTaskStatus(json{{"status", "stopped"}, {"exitstatus", "clone failed: no space"}});
  CHECK(bad->failed());
  CHECK(bad->error("U").kind == ErrorKind::Task);
  CHECK(bad->error("U").message == "task failed: clone failed: no space");
  auto locked = parseTaskStatus(json{{"status", "stopped"}, {"exitstatus", "VM is locked (clone)"}});
  CHECK(locked->error("U").kind == ErrorKind::Busy);
  CHECK(parseTaskStatus(json{{"status", "stopped"}, {"exitstatus", "unexpected status"}})->failed());
  CHECK_FALSE(parseTaskStatus(json{{"exitstatus", "OK"}}).ok());
}

TEST_CASE("net0: the stored form and the spec's form compare equal", "[proxmox][normalize]") {
  auto stored = parseNet("virtio=BC:24:11:2A:3B:4C,bridge=vmbr0");
  REQUIRE(stored.ok());
  CHECK(stored->model == "virtio");
  CHECK(stored->mac == "BC:24:11:2A:3B:4C");
  CHECK(stored->bridge == "vmbr0");
  NetDevice spec{"virtio", "", "vmbr0", {}};
  CHECK(netDiff(*stored, spec) == "");
  auto explicitForm = parseNet("model=virtio,macaddr=bc:24:11:2a:3b:4c,bridge=vmbr0,firewall=0");
  REQUIRE(explicitForm.ok());
  CHECK(netDiff(*stored, *explicitForm) == "");
  auto fw = parseNet("virtio,bridge=vmbr0,firewall=1");
  CHECK(netDiff(*stored, *fw) == "firewall 0 -> 1");
  CHECK(netDiff(*stored, NetDevice{"virtio", "", "vmbr1", {}}) == "bridge vmbr0 -> vmbr1");
  CHECK(netDiff(*stored, NetDevice{"e1000", "", "vmbr0", {}}) == "model virtio -> e1000");
  CHECK(formatNet(*stored) == "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0");
  CHECK(formatNet(spec) == "virtio,bridge=vmbr0");
  CHECK_FALSE(parseNet("bogus=1").ok());
  CHECK_FALSE(parseNet("virtio=not-a-mac").ok());
}

TEST_CASE("memory: property string and spec sizes", "[proxmox][normalize]") {
  CHECK(*parseConfigMemoryMiB("4096") == 4096);
  CHECK(*parseConfigMemoryMiB("current=4096") == 4096);
  CHECK_FALSE(parseConfigMemoryMiB("current=abc").ok());
  CHECK(*specMemoryMiB(json(2048)) == 2048);
  CHECK(*specMemoryMiB(json("2048")) == 2048);
  CHECK(*specMemoryMiB(json("4G")) == 4096);
  CHECK(*specMemoryMiB(json("512MiB")) == 512);
  CHECK_FALSE(specMemoryMiB(json("1.3K")).ok());
  CHECK_FALSE(specMemoryMiB(json(8)).ok());
}

TEST_CASE("tags: lowercased, sorted, de-duplicated, joined with semicolons", "[proxmox][normalize]") {
  CHECK(normalizeTags({"Infrastructure", "tend", "infrastructure"}) == "infrastructure;tend");
  CHECK(normalizeTagString("tend,B; a  b") == "a;b;tend");
  CHECK(normalizeTagString("") == "");
  CHECK(normalizeTags({"web", "tend"}) == normalizeTagString("tend;web"));
}

TEST_CASE("booleans: 0/1, \"1\", true all normalise", "[proxmox][normalize]") {
  CHECK(normalizeBool(json(1)) == true);
  CHECK(normalizeBool(json("1")) == true);
  CHECK(normalizeBool(json(true)) == true);
  CHECK(normalizeBool(json(0)) == false);
  CHECK(std::string(boolParam(true)) == "1");
}

TEST_CASE("disk sizes parse K/M/G/T and a shrink is refused before anything is sent",
          "[proxmox][normalize]") {
  CHECK(*parseSize("32G") == 32ULL << 30);
  CHECK(*parseSize("32768M") == 32ULL << 30);
  CHECK(*parseSize("1.5T") == 3ULL << 39);
  CHECK(*parseSize("10GiB") == 10ULL << 30);
  CHECK(*parseSize("4096") == 4096);
  CHECK_FALSE(parseSize("ten gigs").ok());
  CHECK(formatSize(32ULL << 30) == "32G");
  CHECK(formatSize(3584ULL << 20) == "3584M");
  CHECK(diskSizeOf("local-lvm:vm-100-disk-0,discard=on,size=32G") == (32ULL << 30));
  CHECK_FALSE(diskSizeOf("local-lvm:vm-100-cloudinit,media=cdrom"));
  auto same = planDiskResize("scsi0", 50ULL << 30, *parseSize("51200M"));
  CHECK(same.kind == DiskResize::Kind::None);
  auto grow = planDiskResize("scsi0", 3584ULL << 20, 50ULL << 30);
  CHECK(grow.kind == DiskResize::Kind::Grow);
  CHECK(grow.size == "50G");
  auto shrink = planDiskResize("scsi0", 50ULL << 30, 20ULL << 30);
  CHECK(shrink.kind == DiskResize::Kind::Shrink);
  CHECK(shrink.message.find("disk scsi0 is 50G, the spec asks for 20G") != std::string::npos);
}

TEST_CASE("ipconfig0 parses, checks the server's rules and formats canonically",
          "[proxmox][normalize]") {
  auto c = parseIpConfig("gw=10.2.20.1,ip=10.2.20.53/24");
  REQUIRE(c.ok());
  CHECK(formatIpConfig(*c) == "ip=10.2.20.53/24,gw=10.2.20.1");
  CHECK(*parseIpConfig("ip=10.2.20.53/24,gw=10.2.20.1") == *c);
  CHECK(parseIpConfig("ip=dhcp").ok());
  CHECK(parseIpConfig("ip6=auto").ok());
  CHECK(parseIpConfig("ip=10.0.0.2/8,ip6=fd00::2/64,gw6=fd00::1").ok());
  CHECK_FALSE(parseIpConfig("gw=10.2.20.1").ok());
  CHECK_FALSE(parseIpConfig("ip=dhcp,gw=10.2.20.1").ok());
  CHECK_FALSE(parseIpConfig("ip=10.2.20.53").ok());
  CHECK_FALSE(parseIpConfig("ip=10.2.20.300/24").ok());
  CHECK_FALSE(parseIpConfig("foo=1").ok());
}

TEST_CASE("providers.proxmox settings keep the spec's key names", "[proxmox][settings]") {
  json wil = {{"endpoint", "https://10.2.20.7:8006"},
              {"node", "proxmox"},
              {"token_id", "tend@pve!reconciler"},
              {"token_secret", "s3cret"},
              {"tls", {{"ca_file", "/etc/tend/proxmox-ca.pem"}}},
              {"storage", "local-lvm"},
              {"bridge", "vmbr0"}};
  auto s = parseSettings(wil);
  REQUIRE(s.ok());
  CHECK(s->client.host == "10.2.20.7");
  CHECK(s->client.port == 8006);
  CHECK(s->client.tls.caFile == "/etc/tend/proxmox-ca.pem");
  CHECK(s->node == "proxmox");
  CHECK(s->warnings.empty());

  json j = wil;
  j["endpoint"] = "http://10.2.20.7:8006";
  CHECK(parseSettings(j).error().message.rfind("providers.proxmox.endpoint:", 0) == 0);
  j = wil;
  j["tls"] = {{"ca_file", "/x"}, {"fingerprint", std::string(64, 'a')}};
  CHECK(parseSettings(j).error().message == "providers.proxmox.tls: give one of fingerprint, ca_file or insecure: true");
  j = wil;
  j["tls"] = {{"fingerprint", "AA:BB"}};
  CHECK(parseSettings(j).error().message.find("64 hex digits") != std::string::npos);
  j = wil;
  j["tls"] = {{"insecure", true}};
  s = parseSettings(j);
  REQUIRE(s.ok());
  REQUIRE(s->warnings.size() == 1);
  CHECK(s->warnings[0].find("not verified") != std::string::npos);
  CHECK(s->warnings[0].find("s3cret") == std::string::npos);
  j = wil;
  j["token_id"] = "tend@pve";
  CHECK_FALSE(parseSettings(j).ok());
  j = wil;
  j["colour"] = "red";
  CHECK(parseSettings(j).error().message.rfind("providers.proxmox.colour: unknown key", 0) == 0);

  char path[] = "/tmp/tend-pve-secret-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << "file-secret\n";
  j = wil;
  j.erase("token_secret");
  j["token_secret_file"] = path;
  s = parseSettings(j);
  ::unlink(path);
  REQUIRE(s.ok());
  CHECK(s->client.tokenSecret == "file-secret");
  j["token_secret"] = "x";
  CHECK_FALSE(parseSettings(j).ok());
}
