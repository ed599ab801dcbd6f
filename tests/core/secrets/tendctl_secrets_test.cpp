// tendctl secrets show|set|edit, driven through the real binary (when it has been built),
// plus the canary check: the secret value never appears on stderr or in the file.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/secrets/age.h"
#include "core/secrets/sops.h"
#include "tests/core/secrets/secrets_test_util.h"
#include "tests/support/skip.h"

namespace fs = std::filesystem;
namespace age = tend::secrets::age;
using namespace tend::secrets;
using namespace tend::secrets::testutil;

namespace {

fs::path tendctl() { return fs::path(TEND_BINARY_DIR) / "daemon" / "tendctl"; }

struct Cli {
  TempDir tmp;
  fs::path key = tmp.path / "key.txt";
  fs::path spec = tmp.path / "spec";
  fs::path out = tmp.path / "stdout";
  fs::path err = tmp.path / "stderr";
  Cli() {
    REQUIRE(run("age-keygen -o " + key.string() + " 2>/dev/null") == 0);
    fs::create_directories(spec);
    writeFile(spec / "environment.yml", "name: test\nsecrets:\n  file: secrets.sops.yml\n");
  }
  int ctl(const std::string& args, const std::string& env = "") {
    return run("env -u SOPS_AGE_KEY_FILE -u TEND_AGE_RECIPIENTS TEND_AGE_KEY_FILE=" + key.string() + " " + env + " " +
               tendctl().string() + " " + args + " >" + out.string() + " 2>" + err.string() + " </dev/null");
  }
  int ctlStdin(const std::string& args, const std::string& input) {
    writeFile(tmp.path / "stdin", input);
    return run("env -u SOPS_AGE_KEY_FILE -u TEND_AGE_RECIPIENTS TEND_AGE_KEY_FILE=" + key.string() + " " +
               tendctl().string() + " " + args + " >" + out.string() + " 2>" + err.string() + " <" +
               (tmp.path / "stdin").string());
  }
};

}  // namespace

TEST_CASE("tendctl secrets set creates, updates and show reads values", "[secrets][tendctl]") {
  if (!fs::exists(tendctl())) tend::testing::skipTest("tendctl not built");
  Cli c;
  const std::string canary = "canary-7f3a9e1c-do-not-leak";
  REQUIRE(c.ctlStdin("secrets set db_password " + c.spec.string(), canary + "\n") == 0);
  fs::path file = c.spec / "secrets.sops.yml";
  REQUIRE(fs::exists(file));
  std::string text = readFile(file);
  CHECK(text.find(canary) == std::string::npos);
  CHECK(readFile(c.err).find(canary) == std::string::npos);
  CHECK(text.rfind("db_password: ENC[AES256_GCM,data:", 0) == 0);

  REQUIRE(c.ctl("secrets show db_password " + c.spec.string()) == 0);
  CHECK(readFile(c.out) == canary);  // not a TTY: no trailing newline, like sops --extract

  // --from-file keeps the content exactly (e.g. an SSH key with its newline).
  writeFile(c.tmp.path / "value", "line1\nline2\n");
  REQUIRE(c.ctl("secrets set ssh_private_key " + c.spec.string() + " --from-file " + (c.tmp.path / "value").string()) == 0);
  REQUIRE(c.ctl("secrets show ssh_private_key " + c.spec.string()) == 0);
  CHECK(readFile(c.out) == "line1\nline2\n");
  REQUIRE(c.ctl("secrets show db_password " + c.spec.string()) == 0);
  CHECK(readFile(c.out) == canary);

  // Names are listed without a key.
  auto names = sopsKeyNames(file.string());
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"db_password", "ssh_private_key"});

  // Unknown name and wrong key: clear errors, exit 1, no value on stderr.
  CHECK(c.ctl("secrets show nope " + c.spec.string()) == 1);
  CHECK(readFile(c.err).find("nope") != std::string::npos);
  REQUIRE(run("age-keygen -o " + (c.tmp.path / "other.txt").string() + " 2>/dev/null") == 0);
  CHECK(run("env TEND_AGE_KEY_FILE=" + (c.tmp.path / "other.txt").string() + " " + tendctl().string() +
            " secrets show db_password " + c.spec.string() + " >" + c.out.string() + " 2>" + c.err.string()) == 1);
  CHECK(readFile(c.out).empty());
  CHECK(readFile(c.err).find("none of the given age identities") != std::string::npos);

  // The data key stays: the age stanza in the file does not change between sets.
  auto encBlock = [](const std::string& t) { return t.substr(t.find("enc: |"), t.find("-----END") - t.find("enc: |")); };
  std::string before = readFile(file);
  REQUIRE(c.ctlStdin("secrets set db_password " + c.spec.string(), "rotated-value\n") == 0);
  CHECK(encBlock(readFile(file)) == encBlock(before));
  REQUIRE(c.ctl("secrets show db_password " + c.spec.string()) == 0);
  CHECK(readFile(c.out) == "rotated-value");
}

TEST_CASE("tendctl secrets set honours TEND_AGE_RECIPIENTS for new files", "[secrets][tendctl]") {
  if (!fs::exists(tendctl())) tend::testing::skipTest("tendctl not built");
  Cli c;
  auto a = age::generateIdentity(), b = age::generateIdentity();
  std::string ra = age::formatRecipient(a.pub), rb = age::formatRecipient(b.pub);
  writeFile(c.tmp.path / "stdin", "shared-secret\n");
  REQUIRE(run("env -u TEND_AGE_KEY_FILE -u SOPS_AGE_KEY_FILE TEND_AGE_RECIPIENTS=" + ra + "," + rb + " " +
              tendctl().string() + " secrets set token " + c.spec.string() + " <" + (c.tmp.path / "stdin").string() +
              " 2>/dev/null") == 0);
  std::string text = readFile(c.spec / "secrets.sops.yml");
  CHECK(text.find(ra) != std::string::npos);
  CHECK(text.find(rb) != std::string::npos);
  for (const auto& id : {a, b}) {
    auto d = decryptSops(text, SopsFormat::kYaml, {id});
    REQUIRE(d.ok());
    CHECK(d->leaves[0].value.reveal() == "shared-secret");
  }
}

TEST_CASE("tendctl secrets edit re-encrypts what the editor changed and wipes the temp file", "[secrets][tendctl]") {
  if (!fs::exists(tendctl())) tend::testing::skipTest("tendctl not built");
  Cli c;
  REQUIRE(c.ctlStdin("secrets set a " + c.spec.string(), "alpha-value\n") == 0);
  REQUIRE(c.ctlStdin("secrets set b " + c.spec.string(), "beta-value\n") == 0);
  fs::path file = c.spec / "secrets.sops.yml";
  std::string before = readFile(file);
  std::string aLine = before.substr(0, before.find('\n'));

  // The "editor" records the temp file's mode and path, then changes b and adds c.
  fs::path script = c.tmp.path / "editor.sh";
  writeFile(script,
            "#!/bin/sh\nstat -c %a \"$1\" > " + (c.tmp.path / "mode").string() + "\necho \"$1\" > " +
                (c.tmp.path / "path").string() + "\nsed -i 's/beta-value/beta-changed/' \"$1\"\necho 'c: 42' >> \"$1\"\n");
  fs::permissions(script, fs::perms::owner_all);
  REQUIRE(c.ctl("secrets edit " + c.spec.string(), "EDITOR=" + script.string()) == 0);
  CHECK(readFile(c.tmp.path / "mode") == "600\n");
  std::string tmpPath = readFile(c.tmp.path / "path");
  tmpPath.pop_back();
  CHECK_FALSE(fs::exists(tmpPath));
  CHECK_FALSE(fs::exists(fs::path(tmpPath).parent_path()));

  std::string after = readFile(file);
  CHECK(after.find(aLine + "\n") == 0);  // unchanged value keeps its ciphertext
  CHECK(after.find("c: ENC[") != std::string::npos);
  CHECK(after.find("type:int]") != std::string::npos);
  auto ids = age::loadIdentityFile(c.key.string());
  REQUIRE(ids.ok());
  auto d = decryptSops(after, SopsFormat::kYaml, *ids);
  REQUIRE(d.ok());
  REQUIRE(d->leaves.size() == 3);
  CHECK(d->leaves[1].value.reveal() == "beta-changed");
  CHECK(d->leaves[2].value.reveal() == "42");

  // An editor that changes nothing leaves the file byte-identical.
  REQUIRE(c.ctl("secrets edit " + c.spec.string(), "EDITOR=true") == 0);
  CHECK(readFile(file) == after);
  CHECK(readFile(c.err).find("no changes") != std::string::npos);
  // A failing editor aborts without touching the file.
  CHECK(c.ctl("secrets edit " + c.spec.string(), "EDITOR=false") == 1);
  CHECK(readFile(file) == after);
}

TEST_CASE("tendctl secrets edit stopped by a signal leaves no plaintext behind", "[secrets][tendctl][security]") {
  if (!fs::exists(tendctl())) {
    WARN("tendctl not built; skipping CLI test");
    return;
  }
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    INFO("signal " << sig);
    Cli c;
    REQUIRE(c.ctlStdin("secrets set pw " + c.spec.string(), "plain-canary-value\n") == 0);
    // The "editor" says where the plaintext is, leaves a swap file beside it (as vim does)
    // and waits to be stopped.
    fs::path script = c.tmp.path / "editor.sh";
    fs::path pathFile = c.tmp.path / "path";
    writeFile(script, "#!/bin/sh\ncp \"$1\" \"$1.swp\"\necho \"$1\" > " + pathFile.string() +
                          ".tmp\nmv " + pathFile.string() + ".tmp " + pathFile.string() + "\nexec sleep 30\n");
    fs::permissions(script, fs::perms::owner_all);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::setenv("TEND_AGE_KEY_FILE", c.key.c_str(), 1);
      ::setenv("EDITOR", script.c_str(), 1);
      ::unsetenv("VISUAL");
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl(tendctl().c_str(), "tendctl", "secrets", "edit", c.spec.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(pathFile); ++i) ::usleep(10000);
    REQUIRE(fs::exists(pathFile));
    std::string tmpPath = readFile(pathFile);
    tmpPath.pop_back();
    REQUIRE(fs::exists(tmpPath));
    CHECK(readFile(tmpPath).find("plain-canary-value") != std::string::npos);
    ::kill(pid, sig);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    // The signal still ends tendctl (the shell sees 128+N), and only after the cleanup.
    CHECK(WIFSIGNALED(status));
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == sig));
    CHECK_FALSE(fs::exists(tmpPath));
    CHECK_FALSE(fs::exists(tmpPath + ".swp"));
    CHECK_FALSE(fs::exists(fs::path(tmpPath).parent_path()));
  }
}

TEST_CASE("the committed demo key decrypts a file tendctl encrypts for it", "[secrets][tendctl]") {
  fs::path demo = testdataDir() / "demo-age.key";
  auto ids = age::loadIdentityFile(demo.string());
  REQUIRE(ids.ok());
  REQUIRE(ids->size() == 1);
  std::string text = readFile(demo);
  CHECK(text.find("TEST-ONLY") != std::string::npos);
  CHECK(text.find("# public key: " + age::formatRecipient((*ids)[0].pub)) != std::string::npos);
}
