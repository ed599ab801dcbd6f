// Fuzzes the Proxmox provider's decoding of what the VE API answers (providers/proxmox
// wire.h, normalize.h, vm_model.h): pure functions, no network. The input is up to four parts
// separated by "%%FILE\n" lines:
//   0  a VM config (GET .../config `data`): normalised, diffed against a fixed desired VM,
//      turned into PUT parameters
//   1  a task status (GET .../tasks/UPID/status `data`)
//   2  an error body of a non-2xx answer (its status code is the part's length % 600)
//   3  lines, each read as every value the provider parses from a config or a task id
// Nothing may crash or throw; properties checked:
//  - a UPID that parses formats back to one that parses to the same fields;
//  - parse(format(x)) == x for ipconfig; formatNet and formatSize are fixed points of their
//    parsers (a value the provider writes is read back as written, or a converged VM would
//    show drift forever);
//  - percentDecode(percentEncode(s)) == s (API paths and form bodies);
//  - a stopped task with OK or WARNINGS succeeded, a running one has not failed, and a task
//    has an error kind exactly when it failed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "providers/proxmox/normalize.h"
#include "providers/proxmox/vm_model.h"
#include "providers/proxmox/wire.h"
#include "tests/fuzz/fuzz_common.h"

namespace p = tend::proxmox;
using json = nlohmann::json;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s\n%s\n", what, detail.c_str());
  std::abort();
}

const p::DesiredVm& desired() {
  static const p::DesiredVm d = [] {
    p::DesiredVm v;
    v.id = "vm/dns";
    v.name = "dns";
    v.node = "pve";
    v.storage = "local-lvm";
    v.bridge = "vmbr0";
    v.environment = "fuzz";
    v.vmid = 120;
    v.templateVmid = 9000;
    v.cores = 2;
    v.memoryMiB = 2048;
    v.diskBytes = 32ull << 30;
    v.ipconfig0 = "ip=127.2.20.53/24,gw=127.2.20.1";
    v.expectedIp = "127.2.20.53";
    v.nameserver = "127.2.20.1";
    v.searchdomain = "home.test";
    v.ciuser = "ops";
    v.sshKeys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFuzz fuzz@tend"};
    v.tags = "dns;tend";
    v.description = "the resolver";
    v.hash = "0123456789abcdef";
    return v;
  }();
  return d;
}

void checkConfig(std::string_view text) {
  json cfg = json::parse(text.begin(), text.end(), nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) return;
  json state = p::stateFromConfig(cfg);
  (void)p::bootDiskKey(cfg);
  p::VmDiff diff = p::diffVm(desired(), state);
  (void)diff.summary();
  (void)p::configParams(desired(), diff, state, true);
  std::string user;
  p::Mark m;
  if (cfg.contains("description") && cfg["description"].is_string()) p::splitDescription(cfg["description"], user, m);
}

void checkTask(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return;
  auto t = p::parseTaskStatus(j);
  if (!t) return;
  // pve-common's status_is_error: a stopped task with "OK" or "WARNINGS: N" succeeded.
  bool okText = t->exitstatus == "OK" || t->exitstatus.rfind("WARNINGS: ", 0) == 0;
  if (!t->running && okText && !t->succeeded()) fail("an OK/WARNINGS task is not a success", j.dump());
  if (t->running && t->failed()) fail("a running task counts as failed", j.dump());
  (void)t->warnings();
  auto e = t->error("UPID:pve:00000001:00000002:00000003:qmclone:9000:root@pam:");
  if (t->failed() != (e.kind != p::ErrorKind::None))
    fail("a task's error kind disagrees with failed()", j.dump() + "\n" + e.text());
}

void checkLine(const std::string& s) {
  if (auto u = p::parseUpid(s)) {
    std::string f = p::formatUpid(*u);
    auto back = p::parseUpid(f);
    if (!back || !(*back == *u)) fail("a UPID does not survive format + parse", s + "\n" + f);
  }
  if (auto n = p::parseNet(s)) {
    std::string f = p::formatNet(*n);
    auto back = p::parseNet(f);
    if (!back) fail("formatNet writes what parseNet refuses", s + "\n" + f + "\n" + back.error().message);
    if (p::formatNet(*back) != f) fail("formatNet is not a fixed point", s + "\n" + f + "\n" + p::formatNet(*back));
    if (!p::netDiff(*back, *n).empty()) fail("a net device differs from itself written and read back", s + "\n" + f);
  }
  if (auto c = p::parseIpConfig(s)) {
    std::string f = p::formatIpConfig(*c);
    auto back = p::parseIpConfig(f);
    if (!back || !(*back == *c)) fail("an ipconfig does not survive format + parse", s + "\n" + f);
  }
  if (auto z = p::parseSize(s)) {
    std::string f = p::formatSize(*z);
    auto back = p::parseSize(f);
    if (!back || *back != *z) fail("a size does not survive format + parse", s + "\n" + f);
  }
  (void)p::parseConfigMemoryMiB(s);
  (void)p::splitPropertyString(s, "model");
  (void)p::diskSizeOf(s);
  (void)p::specMemoryMiB(json(s));
  std::string tags = p::normalizeTagString(s);
  if (p::normalizeTagString(tags) != tags) fail("normalizeTagString is not idempotent", s + "\n" + tags);
  if (p::percentDecode(p::percentEncode(s)) != s) fail("percentDecode(percentEncode(s)) != s", s);
  (void)p::classifyMessage(s, p::ErrorKind::Server);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parts = tend::fuzz::splitParts(in, 4);
  if (parts.size() > 0) checkConfig(parts[0]);
  if (parts.size() > 1) checkTask(parts[1]);
  if (parts.size() > 2) {
    int status = static_cast<int>(parts[2].size() % 600);
    auto e = p::errorFromResponse(status, "Fuzz", std::string(parts[2]));
    (void)p::errorKindName(e.kind);
  }
  if (parts.size() > 3) {
    std::string_view rest = parts[3];
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      checkLine(std::string(rest.substr(0, nl)));
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  return 0;
}
