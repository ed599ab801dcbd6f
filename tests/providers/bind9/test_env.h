#pragma once
// Shared by the bind9 test files: file helpers and Env, a provider over a temp conf_dir with
// the real named-checkzone/named-checkconf, a fake clock and no running named (reload: none).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "core/clock.h"
#include "providers/bind9/bind9_internal.h"
#include "providers/bind9/bind9_provider.h"
#include "tests/fixtures/bind9/named_fixture.h"
#include "tests/providers/bind9/wil_zones.h"
#include "tests/support/skip.h"

namespace tend::testing {

inline std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline int64_t mtimeNs(const std::string& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}

// Noon UTC of a day: serial dates are UTC.
inline std::chrono::system_clock::time_point day(int y, int m, int d) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_hour = 12;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

struct Env {
  // First, so a skip happens before the directory exists: the provider checks zones with these.
  bool toolsPresent = (requirePrograms({"named-checkzone", "named-checkconf"}), true);
  std::string dir = makeTempDir("tend-bind9-unit-");
  WilDns wil;
  FakeClock clock;
  // Applied to the options of every provider make() builds (tests add seams here).
  std::function<void(bind9::Bind9Options&)> tune;
  std::unique_ptr<Provider> provider;
  Env() {
    wil.confDir = dir + "/bind";
    wil.rndcPort = 1;  // never used: reload none
    clock.setWall(day(2026, 11, 25));
    provider = make();
  }
  ~Env() { std::filesystem::remove_all(dir); }
  std::unique_ptr<Provider> make() {
    ProviderConfig cfg;
    cfg.config = {{"server", "local"}, {"conf_dir", wil.confDir}, {"reload", "none"}};
    cfg.stateDir = dir + "/state";
    bind9::Bind9Options o;
    o.clock = &clock;
    if (tune) tune(o);
    auto p = bind9::makeBind9ProviderWith(cfg, o);
    REQUIRE(p.ok());
    return std::move(p.value());
  }
  std::string zfile(const std::string& z, const std::string& v) const {
    return bind9::zoneFilePath(wil.confDir, v, z);
  }
};

// SOA serial as named serves it (3rd field of +short SOA).
inline std::string servedSerial(const NamedFixture& n, const std::string& zone,
                                const std::string& src = "127.0.0.1") {
  std::istringstream is(n.dig(zone, "SOA", src));
  std::string a, b, serial;
  is >> a >> b >> serial;
  return serial;
}

// rndc reload is asynchronous ("zone reload queued"): poll briefly for the new answer.
inline std::string digUntil(const NamedFixture& n, const std::string& name, const std::string& type,
                            const std::string& want, const std::string& src = "127.0.0.1") {
  std::string got;
  for (int i = 0; i < 50; ++i) {
    got = n.dig(name, type, src);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

// A temp dir with a private named (not started yet: tend converges first, as on a fresh
// install) and the wil zones pointed at it; the provider config reloads with rndc.
// TEND_BIND9_KEEP=1 keeps the directory (named.log, zone files) for inspection.
struct NamedEnv {
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      // A test may have taken permissions away to make named fail; give them back first.
      for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
        if (it->is_directory(ec))
          std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                       std::filesystem::perm_options::add, ec);
      if (!std::getenv("TEND_BIND9_KEEP")) std::filesystem::remove_all(dir, ec);
    }
  };
  Cleanup cleanup;  // first member: removed after named has stopped
  NamedFixture named;
  WilDns wil;

  explicit NamedEnv(const std::string& prefix)
      : cleanup{makeTempDir(prefix)}, named(cleanup.dir + "/named") {
    REQUIRE(!cleanup.dir.empty());
    requirePrograms({"named", "rndc", "rndc-confgen", "named-checkzone", "named-checkconf"});
    REQUIRE(named.keyOk());
    wil.confDir = cleanup.dir + "/bind";
    wil.rndcPort = named.rndcPort();
    wil.keyFile = named.keyFile();
  }
  const std::string& dir() const { return cleanup.dir; }
  ProviderConfig config() const {
    ProviderConfig cfg;
    cfg.config = {
        {"server", "local"}, {"conf_dir", wil.confDir}, {"reload", "rndc"}, {"rndc", wil.rndc()}};
    cfg.stateDir = cleanup.dir + "/state";
    return cfg;
  }
  // Starts named over tend's fragment; "" or why not (with named's log).
  std::string startNamed() { return named.start(wil.confDir + "/named.conf.tend"); }
};

}  // namespace tend::testing
