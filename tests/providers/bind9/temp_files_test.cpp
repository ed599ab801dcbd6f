// Temp files left by a crash between "write temp" and "rename": recognised by name only, swept
// on the next pass, never an operator's file.
#include "providers/bind9/temp_files.h"

#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "providers/ssh/ssh_session.h"
#include "tests/providers/bind9/test_env.h"

using namespace tend;
using namespace tend::bind9;
using testing::Env;
using testing::slurp;
namespace fs = std::filesystem;

namespace {

void touch(const std::string& path, const std::string& text = "x") {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// Sets atime/mtime `ago` in the past (a leftover from long ago).
void age(const std::string& path, std::chrono::seconds ago) {
  struct utimbuf t;
  t.actime = t.modtime = ::time(nullptr) - ago.count();
  ::utime(path.c_str(), &t);
}

void pass(Provider& p) {
  ObserveRequest req;
  req.includeOwned = true;
  p.observe(req);
}

// HostIo that dies (like a SIGKILL) the moment the provider renames a temp file into place.
class DieAtRename final : public HostIo {
 public:
  std::string describe() const override { return "die-at-rename"; }
  Result<std::optional<std::string>> readFile(const std::string& p) override {
    return io_->readFile(p);
  }
  Result<void> writeFile(const std::string& p, const std::string& c, unsigned m) override {
    return io_->writeFile(p, c, m);
  }
  Result<void> rename(const std::string& from, const std::string& to) override {
    if (from.find(".tmp-") != std::string::npos) ::_exit(9);
    return io_->rename(from, to);
  }
  Result<void> link(const std::string& f, const std::string& t) override { return io_->link(f, t); }
  Result<std::optional<FileStat>> stat(const std::string& p) override { return io_->stat(p); }
  Result<void> remove(const std::string& p) override { return io_->remove(p); }
  Result<void> makeDirs(const std::string& p, unsigned m) override { return io_->makeDirs(p, m); }
  Result<std::vector<DirEntry>> listDir(const std::string& p) override { return io_->listDir(p); }
  Result<CommandResult> run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds t) override {
    return io_->run(argv, t);
  }

 private:
  std::unique_ptr<HostIo> io_ = makeLocalHostIo();
};

}  // namespace

TEST_CASE("temp names are recognised exactly, nothing else is", "[bind9][temp]") {
  CHECK(tempFileName("/b/zones/internal/a.test.zone", 42, 7) ==
        "/b/zones/internal/.a.test.zone.tmp-42-7");
  CHECK(batchCheckConfName("/b/zones/internal", 42, 8) == "/b/zones/internal/.check-42-8.conf");
  auto t = parseTempName(".a.test.zone.tmp-42-7");
  REQUIRE(t);
  CHECK(t->pid == 42);
  CHECK(t->seq == 7);
  CHECK(parseTempName(".named.conf.tend.tmp-1-2"));
  CHECK(parseTempName(".named.conf.tend.tmp-1-2.check.conf"));
  CHECK(parseTempName(".check-1-2.conf"));
  for (const char* other :
       {"a.test.zone", ".a.test.zone", ".a.test.zone.swp", "a.test.zone.tmp", "a.test.zone.tmp-1-2",
        ".a.test.zone.tmp-1-2x", ".a.test.zone.tmp-1", ".a.test.zone.tmp--2",
        ".a.test.zone.tmp-a-2", ".notes.tmp-1-2", ".named.conf.local.tmp-1-2",
        ".a.test.zone.tmp-1-2.check.conf", ".check-1-2.conf.bak", ".check-1.conf", ".check--.conf",
        "..zone.tmp-1-2", ".a.test.zone.tmp-1-2/x",
        ".named.conf.tend.tmp-1-2.check.conf.check.conf"})
    CHECK_FALSE(parseTempName(other));
}

TEST_CASE("the SFTP writer's temps of bind9's files are recognised, of nothing else", "[bind9][temp]") {
  // A server reached over ssh: every file is written as <dir>/.<name>.tend-<hex> first, and a
  // write cut off with the connection leaves that behind.
  auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
  std::string zoneTmp = base(tempFileName("/b/zones/internal/a.test.zone", 42, 7));
  for (const std::string& inner : {std::string("a.test.zone"), std::string("named.conf.tend"), zoneTmp,
                                   std::string(".named.conf.tend.tmp-1-2"),
                                   std::string(".named.conf.tend.tmp-1-2.check.conf"),
                                   std::string(".check-1-2.conf")}) {
    std::string name = base(ssh::atomicWriteTempName("/b/zones/internal/" + inner));
    INFO(name);
    auto t = parseTempName(name);
    REQUIRE(t);
    CHECK(t->inner == inner);
    CHECK(t->pid == 0);  // not known: swept by age only
  }
  CHECK(parseTempName(".a.test.zone.tend-0123456789")->target == "a.test.zone");
  CHECK(parseTempName(".named.conf.tend.tend-abcdef0123")->target == "named.conf.tend");
  CHECK(parseTempName("..check-1-2.conf.tend-abcdef0123")->target.empty());
  for (const char* other :
       {".notes.tend-0123456789", ".a.test.zone.tend-012345678", ".a.test.zone.tend-0123456789a",
        ".a.test.zone.tend-ABCDEF0123", ".a.test.zone.tend-", "a.test.zone.tend-0123456789",
        ".named.conf.local.tend-0123456789", "..tend-0123456789",
        ".a.test.zone.tend-0123456789.tend-0123456789", ".a.test.zone.tmp-1-x.tend-0123456789"})
    CHECK_FALSE(parseTempName(other));
}

TEST_CASE("leftover temp files are swept on the next pass, operator files never", "[bind9][temp]") {
  Env e;
  REQUIRE(testing::converge(*e.provider, e.wil.resources()).failures.empty());
  std::string zdir = e.wil.confDir + "/zones/internal";
  std::string mine = zdir + "/.wil.5am.cloud.zone.tmp-" + std::to_string(::getpid()) + "-999999";
  std::string staleZone = zdir + "/.sfc.al.zone.tmp-4000000-3";
  std::string staleCheck = zdir + "/.check-4000000-7.conf";
  std::string staleConf = e.wil.confDir + "/.named.conf.tend.tmp-4000000-1";
  std::string staleWrap = staleConf + ".check.conf";
  std::string youngForeign = zdir + "/.5am.cloud.zone.tmp-4000001-4";
  // The SFTP writer's leftovers (a server over ssh): its own temp of a zone temp, of a zone and
  // of the fragment.
  std::string sftpOfTemp = zdir + "/..sfc.al.zone.tmp-4000000-5.tend-0a1b2c3d4e";
  std::string sftpOfZone = zdir + "/.sfc.al.zone.tend-5f6a7b8c9d";
  std::string sftpOfConf = e.wil.confDir + "/.named.conf.tend.tend-00112233ff";
  std::string youngSftp = zdir + "/.5am.cloud.zone.tend-0123456789";
  std::vector<std::string> gone{mine, staleZone, staleCheck, staleConf, staleWrap, sftpOfTemp, sftpOfZone, sftpOfConf};
  std::vector<std::string> operatorFiles{
      zdir + "/.wil.5am.cloud.zone.swp",
      zdir + "/wil.5am.cloud.zone.tmp",
      zdir + "/notes.tmp-1-2",
      zdir + "/.notes.tmp-1-2",
      zdir + "/.x.zone.tmp-12a-3",
      zdir + "/.check-1-2.conf.bak",
      e.wil.confDir + "/.named.conf.local.tmp-1-2",
      e.wil.confDir + "/named.conf.tend.tmp-1-2",
      e.wil.confDir + "/.sfc.al.zone.tmp-4000000-3",  // a zone temp outside a view directory
      zdir + "/.notes.txt.tend-0123456789",
      e.wil.confDir + "/.named.conf.local.tend-0123456789"};
  for (const auto& f : gone) touch(f);
  for (const auto& f : operatorFiles) touch(f, "operator's");
  fs::create_directories(zdir + "/.y.zone.tmp-4000000-9");  // a directory, not a temp file
  for (const auto& f : gone) age(f, std::chrono::hours(1));
  for (const auto& f : operatorFiles) age(f, std::chrono::hours(1));
  touch(youngForeign);
  touch(youngSftp);

  pass(*e.provider);
  for (const auto& f : gone) {
    INFO(f);
    CHECK_FALSE(fs::exists(f));
  }
  for (const auto& f : operatorFiles) {
    INFO(f);
    CHECK(slurp(f) == "operator's");
  }
  CHECK(fs::is_directory(zdir + "/.y.zone.tmp-4000000-9"));
  // Another process's fresh temp may be a write in flight: kept until it is stale.
  CHECK(fs::exists(youngForeign));
  CHECK(fs::exists(youngSftp));
  age(youngForeign, std::chrono::hours(1));
  age(youngSftp, std::chrono::hours(1));
  pass(*e.provider);
  CHECK_FALSE(fs::exists(youngForeign));
  CHECK_FALSE(fs::exists(youngSftp));
  // The served files are untouched and the pass after is still a no-op.
  auto r = testing::converge(*e.provider, e.wil.resources());
  CHECK(r.failures.empty());
  CHECK(r.applied.empty());
}

TEST_CASE(
    "a process killed between writing the temp zone and renaming it leaves a temp the "
    "next start removes",
    "[bind9][temp]") {
  Env e;
  auto desired = e.wil.resources();
  REQUIRE(testing::converge(*e.provider, desired).failures.empty());
  e.wil.records["sfc.al"]["internal"].push_back(testing::rec("crash", "A", "10.2.20.66"));
  auto changed = e.wil.resources();
  std::string f = e.zfile("sfc.al", "internal");
  std::string before = slurp(f);

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child is the tend that dies: its provider writes and checks the temp, then dies.
    DieAtRename dying;
    e.tune = [&](Bind9Options& o) {
      o.hostFor = [&](const std::string&) -> Result<HostIo*> { return &dying; };
    };
    auto p = e.make();
    testing::converge(*p, changed);
    ::_exit(0);  // not reached: the rename kills it
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 9);
  std::string leftover =
      fs::path(f).parent_path().string() + "/.sfc.al.zone.tmp-" + std::to_string(child) + "-0";
  REQUIRE(fs::exists(leftover));
  CHECK(slurp(leftover).find("crash") != std::string::npos);
  CHECK(slurp(f) == before);  // the served file was never half-replaced

  // The restarted tend (another pid); its leftover threshold is short so the test need not wait.
  e.tune = [](Bind9Options& o) { o.staleTempAge = std::chrono::milliseconds(1); };
  e.provider = e.make();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto r = testing::converge(*e.provider, changed);
  CHECK(r.failures.empty());
  CHECK(r.applied == std::vector<std::string>{"zone/sfc.al@internal"});
  CHECK_FALSE(fs::exists(leftover));
  CHECK(slurp(f).find("crash") != std::string::npos);
  for (const auto& ent : fs::directory_iterator(fs::path(f).parent_path()))
    CHECK_FALSE(parseTempName(ent.path().filename().string()));
}
