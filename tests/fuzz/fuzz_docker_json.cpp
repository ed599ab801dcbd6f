// Fuzzes the Docker provider's decoding of what the Engine API answers: a fake dockerd on a
// private unix socket answers the provider's requests with the input, the provider observes
// the resources of specs/local (containers, networks, volumes, images) and plans each one.
// The input is up to six parts separated by "%%FILE\n" lines:
//   0  mode: "raw" sends each part as the whole HTTP response (status line, headers, chunked
//      encoding: the HTTP client's parser), anything else wraps it in a 200 JSON answer
//   1  GET /containers/json (both list calls)   2  GET /networks   3  GET /volumes
//   4  GET /images/json                         5  anything else (/_ping in raw mode)
// Whatever the answer, observe must return (an error for the scope or per resource), never
// crash or throw, and plan must take every observation.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/provider.h"
#include "core/spec.h"
#include "providers/builtin.h"
#include "providers/docker/docker_provider.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

std::mutex mu;
std::vector<std::string> parts;  // the current input, split
bool rawMode = false;

std::string partFor(const std::string& target) {
  std::lock_guard<std::mutex> l(mu);
  auto at = [&](size_t i) { return i < parts.size() ? parts[i] : std::string("[]"); };
  if (target.find("/containers/json") != std::string::npos) return at(1);
  if (target.find("/networks") != std::string::npos) return at(2);
  if (target.find("/volumes") != std::string::npos) return at(3);
  if (target.find("/images/json") != std::string::npos) return at(4);
  return at(5);
}

bool isRaw() {
  std::lock_guard<std::mutex> l(mu);
  return rawMode;
}

bool writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// One connection: requests in sequence (keep-alive) until the client closes it.
void serve(int fd) {
  std::string buf;
  char tmp[4096];
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, end);
    size_t bodyLen = 0;
    if (auto p = head.find("Content-Length: "); p != std::string::npos)
      bodyLen = std::strtoul(head.c_str() + p + 16, nullptr, 10);
    while (buf.size() < end + 4 + bodyLen) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    buf.erase(0, end + 4 + bodyLen);
    std::string target = head.substr(0, head.find("\r\n"));
    bool ping = target.find("/_ping") != std::string::npos;
    if (isRaw() && !(ping && partFor("/_ping").empty())) {
      writeAll(fd, partFor(target));
      ::close(fd);
      return;
    }
    std::string body = ping ? "OK" : partFor(target);
    std::string res = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (!writeAll(fd, res)) {
      ::close(fd);
      return;
    }
  }
}

struct Fixture {
  std::string sock;
  std::unique_ptr<tend::Provider> provider;
  std::vector<tend::DesiredResource> desired;

  Fixture() {
    sock = tend::fuzz::scratchDir() + "/docker.sock";
    int lfd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 64) != 0) {
      std::perror("fake dockerd");
      std::abort();
    }
    std::thread([lfd] {
      for (;;) {
        int fd = ::accept(lfd, nullptr, nullptr);
        if (fd < 0) continue;
        std::thread(serve, fd).detach();
      }
    }).detach();

    static tend::ProviderRegistry reg;
    tend::registerBuiltinProviders(reg);
    tend::LoadOptions lo;
    lo.providers = &reg;
    lo.revision = "fuzz";
    auto r = tend::loadSpecDir(std::string(TEND_SOURCE_DIR) + "/specs/local", lo);
    if (!r.ok()) {
      std::fprintf(stderr, "specs/local does not load\n");
      std::abort();
    }
    for (const auto& d : r.graph->resources) {
      if (d.provider != "docker") continue;
      auto c = d;
      c.spec["endpoint"] = "unix:" + sock;
      desired.push_back(std::move(c));
    }
    tend::ProviderConfig cfg;
    cfg.config = {{"transport", "unix:" + sock}};
    cfg.stateDir = tend::fuzz::scratchDir();
    cfg.environment = "local";
    auto p = tend::docker::makeDockerProvider(cfg);
    if (!p) {
      std::fprintf(stderr, "docker provider: %s\n", p.error().message.c_str());
      std::abort();
    }
    provider = std::move(*p);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  {
    std::lock_guard<std::mutex> l(mu);
    parts.clear();
    for (auto p : tend::fuzz::splitParts(in, 6)) parts.emplace_back(p);
    rawMode = parts[0].rfind("raw", 0) == 0;
  }
  tend::ObserveRequest req;
  for (const auto& d : fx.desired) req.desired.push_back(&d);
  req.includeOwned = true;
  req.ctx.environment = "local";
  req.ctx.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto res = fx.provider->observe(req);
  for (const auto& d : fx.desired) {
    tend::PlanRequest pr;
    pr.desired = &d;
    auto it = res.observed.find(d.id);
    pr.observed = it == res.observed.end() ? nullptr : &it->second;
    (void)fx.provider->plan(pr);
  }
  // Owned objects the spec does not name: planned as deletes (prune).
  for (const auto& [id, o] : res.observed) {
    bool named = false;
    for (const auto& d : fx.desired) named = named || d.id == id;
    if (named) continue;
    tend::PlanRequest pr;
    pr.observed = &o;
    (void)fx.provider->plan(pr);
  }
  return 0;
}
